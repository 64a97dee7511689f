import { afterEach, beforeEach, expect, it } from "vitest";
import { Queue } from "../../src/queue.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { Settlement } from "../../src/storage/storage.js";
import type { JobId, JobRecord } from "../../src/types.js";
import { defineHugeText, expectBoundedText } from "../queue/stored-text-scenario.js";
import { deferred, wrapStorage } from "../queue/support.js";
import { databaseUrl, describePostgres } from "../support/postgres.js";
import { PostgresQueues } from "./support/queues.js";

let pg: PostgresQueues;
beforeEach(() => {
  pg = new PostgresQueues();
});
afterEach(async () => {
  await pg.cleanup();
});

const WAIT = { timeoutMs: 20_000 } as const;
const NEIGHBOURS = 6;

/** What the bad job of each case does once every job of the batch is running. */
const BAD: Record<string, () => unknown> = {
  "throws a message with U+0000": () => {
    throw new Error("bad \u0000 message");
  },
  "throws a message with half a surrogate pair": () => {
    throw new Error("bad \ud800 message");
  },
  "throws an error whose name and code hold U+0000": () => {
    throw Object.assign(new Error("plain"), { name: "Bad\u0000Name", code: "E\u0000" });
  },
  "returns a result holding U+0000": () => ({ text: "bad \u0000" }),
  "returns a result whose toJSON gives half a surrogate pair": () => ({ toJSON: () => ({ text: "bad \udc00" }) }),
};

/**
 * Defines "batch": every handler waits until all NEIGHBOURS + 1 have started, then all return in the
 * same turn, so their settles share one batch.
 */
function defineBarrierBatch(queue: Queue, resultOf: (index: number) => unknown): void {
  const started = deferred();
  let running = 0;
  queue.defineHandler("batch", {
    retry: { maxAttempts: 1 },
    run: async (payload) => {
      running += 1;
      if (running === NEIGHBOURS + 1) started.resolve();
      await started.promise;
      return resultOf((payload as { index: number }).index);
    },
  });
}

describePostgres("a settlement PostgreSQL cannot store", () => {
  for (const [name, bad] of Object.entries(BAD)) {
    it(`${name}: the neighbours of its settle batch complete with their results`, async () => {
      const worker = await pg.worker({ concurrency: NEIGHBOURS + 1, leaseMs: 5_000 });
      defineBarrierBatch(worker, (index) => (index === 0 ? bad() : { index }));
      const jobs = await worker.enqueueMany(Array.from({ length: NEIGHBOURS + 1 }, (_, index) => ({ key: `j${index}`, type: "batch", payload: { index } })));
      const done: JobRecord[] = [];
      for (const job of jobs) done.push(await worker.waitFor(job.id, WAIT));
      const [badJob, ...neighbours] = done;
      for (const [i, job] of neighbours.entries()) expect(job).toMatchObject({ status: "completed", attempt: 1, result: { index: i + 1 } });
      if (name.startsWith("returns")) {
        // A result is refused as a payload is (never altered): the job fails, with the path named.
        expect(badJob).toMatchObject({ status: "failed", error: { name: "ValidationError", code: "VALIDATION", message: expect.stringContaining("result") } });
      } else {
        expect(badJob?.status).toBe("failed");
        expect(badJob?.error?.code).not.toBe("LEASE_EXPIRED");
        expect(JSON.stringify(badJob?.error)).not.toMatch(/\\u0000|\\ud800/);
        expect(badJob?.error?.message).toMatch(/^(bad \uFFFD message|plain)$/);
      }
    });
  }

  it("a settlement the store still refuses is settled alone, never with its batch", async () => {
    // The store is handed one completion it cannot hold (as if the core had let it through): PostgreSQL refuses it.
    const store = new PostgresStorage({ connectionString: databaseUrl, schema: pg.schema, max: 4 });
    let poisoned: JobId | undefined;
    let batches = 0;
    const storage = wrapStorage(store, {
      close: () => store.close(),
      settle: (settlements: readonly Settlement[], now: Date) => {
        if (settlements.length > 1) batches += 1;
        const sent = settlements.map((s): Settlement => (s.lease.jobId === poisoned && s.outcome.type === "completed" ? { ...s, outcome: { type: "completed", result: { text: "\u0000" } } } : s));
        return store.settle(sent, now);
      },
    });
    const worker = new Queue({ storage, concurrency: NEIGHBOURS + 1, capacity: { cpu: 4 }, pollIntervalMs: 250, leaseMs: 2_000, logger: false });
    const errors: string[] = [];
    worker.on("queue:error", ({ context }) => errors.push(context));
    defineBarrierBatch(worker, (index) => ({ index }));
    try {
      await worker.start();
      const jobs = await worker.enqueueMany(Array.from({ length: NEIGHBOURS + 1 }, (_, index) => ({ key: `j${index}`, type: "batch", payload: { index } })));
      poisoned = jobs[0]?.id;
      const done: JobRecord[] = [];
      for (const job of jobs) done.push(await worker.waitFor(job.id, WAIT));
      const [badJob, ...neighbours] = done;
      for (const [i, job] of neighbours.entries()) expect(job).toMatchObject({ status: "completed", attempt: 1, result: { index: i + 1 } });
      // Its own completion never stored, the refused job ends as its lease does: rescued and failed (one attempt).
      expect(badJob).toMatchObject({ status: "failed", error: { code: "LEASE_EXPIRED" } });
      expect(batches).toBeGreaterThan(0);
      expect(errors.some((context) => context.startsWith(`settle job ${poisoned}`))).toBe(true);
    } finally {
      await worker.shutdown();
    }
  });
});

describePostgres("text PostgreSQL keeps", () => {
  it("an 8 MiB error message and log line are stored cut to the bound, in the job, each attempt and the log", async () => {
    const worker = await pg.worker();
    defineHugeText(worker);
    const job = await worker.enqueue("huge.text", {});
    await expectBoundedText(worker, await worker.waitFor(job.id, WAIT));
    const t = pg.sql(pg.schema);
    const [row] = await pg.sql<{ bytes: number }[]>`select
      (select octet_length(error::text) from ${t}.jobs where id = ${job.id})
      + (select sum(octet_length(message) + coalesce(octet_length(data::text), 0)) from ${t}.job_logs where job_id = ${job.id}) as bytes`;
    // The job's error, two status changes with theirs, two log lines: each within the bound, not 8 MiB.
    expect(Number(row?.bytes)).toBeLessThan(6 * 65_536);
  });
});
