import { afterEach, expect, it } from "vitest";
import { systemClock, type Clock } from "../../src/clock.js";
import { Queue } from "../../src/queue.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { DUE_LATER_LOOKAHEAD } from "../../src/storage/postgres/sql/claim.js";
import { newJob } from "./fixtures.js";
import { databaseUrl, describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";

// A delayed job or a retry starts when the database deems it due, not at the worker's next poll. The
// poll is an hour here: a worker that woke too early, or never, would not run the job within the wait.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const HOUR = 3_600_000;

/** A worker on `schema` with the given clock, running "delayed.job" (which fails `failures` times first). */
async function worker(schema: string, clock: Clock, failures = 0) {
  const storage = new PostgresStorage({ connectionString: databaseUrl, schema, max: 4 });
  const queue = new Queue({ storage, clock, pollIntervalMs: HOUR, concurrency: 2 });
  const started: number[] = [];
  queue.defineHandler("delayed.job", {
    retry: { maxAttempts: 3, backoff: { type: "fixed", baseMs: 300, jitter: false } },
    run: async (_payload, ctx) => {
      started.push(Date.now());
      if (ctx.attempt <= failures) throw new Error(`attempt ${ctx.attempt} fails`);
      return { attempt: ctx.attempt };
    },
  });
  await queue.start();
  cleanups.push(async () => {
    await queue.shutdown();
    await storage.close();
  });
  return { queue, started };
}

/** A clock `aheadMs` ahead of the system's (and so of the database's, on this machine). */
const clockAhead = (aheadMs: number): Clock => ({ now: () => Date.now() + aheadMs, setTimer: systemClock.setTimer });

describePostgres("delayed jobs and the worker's wake", () => {
  it("runs a job another process enqueued to run later when it is due, not at the next poll", async () => {
    const { storage: producerStore, schema, cleanup } = await newPostgresStorage();
    cleanups.push(cleanup);
    const { queue } = await worker(schema, systemClock);
    const producer = new Queue({ storage: producerStore });
    // The worker hears the insert at once, finds nothing due, and must wake again when it is.
    const job = await producer.enqueue("delayed.job", {}, { delayMs: 1_000 });
    const done = await eventually(async () => {
      const stored = await queue.getJob(job.id);
      return stored?.status === "completed" ? stored : undefined;
    }, "the delayed job to complete", 20_000);
    expect(done.startedAt!.getTime()).toBeGreaterThanOrEqual(job.runAt.getTime());
  });

  it("runs its own retry when the database deems it due, though its clock runs ahead of the database's", async () => {
    const { schema, cleanup } = await newPostgresStorage();
    cleanups.push(cleanup);
    // Ahead by 2 s: its wake at the retry's run time by its own clock comes 2 s early for the database.
    const { queue, started } = await worker(schema, clockAhead(2_000), 1);
    const job = await queue.enqueue("delayed.job", {});
    const done = await eventually(async () => {
      const stored = await queue.getJob(job.id);
      return stored?.status === "completed" ? stored : undefined;
    }, "the retry to complete", 20_000);
    expect(done.attempt).toBe(2);
    expect(started).toHaveLength(2);
  });
});

describePostgres("the claim's look-ahead for jobs due later", () => {
  it(`reads at most ${DUE_LATER_LOOKAHEAD} delayed jobs a level, whatever their type: beyond them it answers none`, async () => {
    const { storage, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const soon = new Date(Date.now() + 60_000);
    const others = Array.from({ length: DUE_LATER_LOOKAHEAD + 50 }, () => newJob({ type: "other", runAt: soon }));
    await storage.insertJobs({ jobs: others, onDuplicate: "reject", now: new Date() });
    const mine = newJob({ type: "mine", runAt: new Date(Date.now() + 120_000) });
    await storage.insertJobs({ jobs: [mine], onDuplicate: "reject", now: new Date() });
    const request = { workerId: "w", limit: 5, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() };
    expect((await storage.claimJobs({ ...request, types: ["mine"] })).nextDueInMs).toBeUndefined();
    // Within the look-ahead it is found.
    const near = (await storage.claimJobs({ ...request, types: ["other"] })).nextDueInMs;
    expect(near).toBeGreaterThan(50_000);
    expect(near).toBeLessThanOrEqual(60_000);
  });
});
