import { randomUUID } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import { DEFAULT_BACKOFF } from "../../src/retry.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { NewJob } from "../../src/types.js";
import { databaseUrl, describePostgres, newPostgresStorage } from "../support/postgres.js";
import { PostgresQueues } from "./support/queues.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A migrated schema, and a store on it that has made no call yet: the call under test is its first. */
async function untouchedStore(): Promise<{ storage: PostgresStorage; migrated: PostgresStorage }> {
  const migrated = await newPostgresStorage({ listen: false });
  cleanups.push(migrated.cleanup);
  const storage = new PostgresStorage({ connectionString: databaseUrl, schema: migrated.schema, max: 4, listen: false });
  cleanups.push(() => storage.close());
  return { storage, migrated: migrated.storage };
}

function job(fields: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(), type: "t", priority: "normal", payload: {}, maxAttempts: 3, backoff: DEFAULT_BACKOFF, dependsOn: [],
    idempotencyKey: undefined, resources: {}, timeoutMs: undefined, runAt: new Date(Date.now() - 1_000), ...fields,
  };
}

const claim = (storage: PostgresStorage) =>
  storage.claimJobs({ workerId: "w", types: ["t"], limit: 10, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() });

describePostgres("PostgresStorage: the first call of a new store", () => {
  it("inserts a graph as its first call, answers dependsOn as ids, and claims it afterwards", async () => {
    const { storage } = await untouchedStore();
    const parent = job();
    const child = job({ dependsOn: [parent.id] });
    const { jobs } = await storage.insertJobs({ jobs: [parent, child], onDuplicate: "reject", now: new Date() });
    expect(jobs.map(({ job: j }) => j.dependsOn)).toEqual([[], [parent.id]]);
    const { claimed } = await claim(storage);
    expect(claimed.map((c) => c.job.id)).toEqual([parent.id]);
    expect((await storage.getJob(child.id))?.dependsOn).toEqual([parent.id]);
  });

  it("claims as its first call with array parameters", async () => {
    const { storage } = await untouchedStore();
    const { claimed } = await claim(storage);
    expect(claimed).toEqual([]);
    const parent = job();
    await storage.insertJobs({ jobs: [parent, job({ dependsOn: [parent.id] })], onDuplicate: "reject", now: new Date() });
    expect((await claim(storage)).claimed.map((c) => c.job.id)).toEqual([parent.id]);
  });

  it("settles as its first call, unblocking a dependent", async () => {
    const { storage, migrated } = await untouchedStore();
    const parent = job();
    const child = job({ dependsOn: [parent.id] });
    await migrated.insertJobs({ jobs: [parent, child], onDuplicate: "reject", now: new Date() });
    const [leased] = (await claim(migrated)).claimed;
    const [settled] = await storage.settle([{ lease: leased!.lease, outcome: { type: "completed", result: 1 } }], new Date());
    expect(settled).toMatchObject({ type: "settled", unblocked: [child.id], job: { dependsOn: [] } });
    expect((await claim(storage)).claimed.map((c) => ({ id: c.job.id, dependsOn: c.job.dependsOn }))).toEqual([{ id: child.id, dependsOn: [parent.id] }]);
  });

  it("runs a graph enqueued by a fresh queue before it starts (issue 11, item 1)", async () => {
    const pg = new PostgresQueues();
    cleanups.push(() => pg.cleanup());
    const migrator = pg.queue();
    await migrator.migrate();
    await migrator.shutdown();
    const queue = pg.queue();
    queue.defineHandler("parent", { run: () => "p" });
    queue.defineHandler("child", { run: (_payload, ctx) => Object.values(ctx.dependencies) });
    const [p, c] = await queue.enqueueMany([
      { key: "p", type: "parent", payload: {} },
      { key: "c", type: "child", payload: {}, dependsOn: ["p"] },
    ]);
    expect(c!.dependsOn).toEqual([p!.id]);
    await queue.start();
    expect(await queue.waitFor(p!.id, { timeoutMs: 15_000 })).toMatchObject({ status: "completed" });
    expect(await queue.waitFor(c!.id, { timeoutMs: 15_000 })).toMatchObject({ status: "completed", result: ["p"] });
  });
});
