import { afterEach, describe, expect, it } from "vitest";
import { StorageError } from "../../src/errors.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { Storage } from "../../src/storage/storage.js";
import { closeAll, deferred, newQueue, recordEvents, runUntil, wrapStorage } from "./support.js";

afterEach(closeAll);

describe("a settle tried again after a try whose answer was lost reads the job back", () => {
  it("a cancel whose first settle try failed, stored by the rescue meanwhile, is announced once", async () => {
    const shared = new MemoryStorage();
    let down = false;
    let workerTries = 0;
    const storage: Storage = wrapStorage(shared, {
      heartbeat: async (...args) => {
        if (down) throw new StorageError("connection lost");
        return shared.heartbeat(...args);
      },
      settle: async (settlements, now) => {
        const own = settlements.some((s) => s.onlyIfExpired !== true);
        if (own) workerTries++;
        // The worker's tries fail while its job still runs; the rescue's go through.
        if (down && own && (await shared.getJob(settlements[0]!.lease.jobId))?.status === "running") throw new StorageError("connection lost");
        return shared.settle(settlements, now);
      },
    });
    const tq = newQueue({ storage, concurrency: 1, leaseMs: 300 });
    const events = recordEvents(tq.queue, ["job:cancelled"]);
    tq.queue.defineHandler("t", {
      retry: { maxAttempts: 3 },
      run: (_p, ctx) => new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))),
    });
    const job = await tq.queue.enqueue("t", {});
    await tq.queue.start();
    await runUntil(tq.clock, async () => (await shared.getJob(job.id))?.status === "running");
    down = true;
    await tq.queue.cancel(job.id); // running: a cancel request; the worker's settle of it fails
    await runUntil(tq.clock, async () => (await shared.getJob(job.id))?.status === "cancelled");
    // Let the worker's remaining settle tries run (100, 400, 1600 ms apart).
    await runUntil(tq.clock, () => false, { maxMs: 3_000 }).catch(() => undefined);
    expect(workerTries).toBeGreaterThan(1);
    expect((await shared.getJob(job.id))?.attempts.map((a) => a.outcome)).toEqual(["cancelled"]);
    expect(events.filter((e) => (e.payload as { job: { id: string } }).job.id === job.id)).toHaveLength(1);
  });

  it("a retry stored as the job's cancel, whose answer was lost, is announced as cancelled", async () => {
    const shared = new MemoryStorage();
    const gate = deferred();
    let waiting = false;
    let tries = 0;
    const storage: Storage = wrapStorage(shared, {
      settle: async (settlements, now) => {
        tries++;
        if (tries > 1) return shared.settle(settlements, now);
        waiting = true;
        await gate.promise;
        await shared.settle(settlements, now); // committed ...
        throw new StorageError("connection lost"); // ... but its answer lost
      },
    });
    const tq = newQueue({ storage, concurrency: 1 });
    const events = recordEvents(tq.queue, ["job:cancelled", "job:retrying"]);
    tq.queue.defineHandler("t", { retry: { maxAttempts: 3 }, run: () => { throw new Error("boom"); } });
    const job = await tq.queue.enqueue("t", {});
    await tq.queue.start();
    await runUntil(tq.clock, () => waiting);
    expect((await tq.queue.cancel(job.id)).status).toBe("running");
    gate.resolve();
    await runUntil(tq.clock, () => tries > 1);
    await runUntil(tq.clock, () => false, { maxMs: 500 }).catch(() => undefined);
    expect(await shared.getJob(job.id)).toMatchObject({ status: "cancelled" });
    expect(events.map((e) => e.name)).toEqual(["job:cancelled"]);
  });

  it("a retry whose answer was lost is announced as the retry it stored, not as what the job became since", async () => {
    const shared = new MemoryStorage();
    let tries = 0;
    const storage: Storage = wrapStorage(shared, {
      settle: async (settlements, now) => {
        tries++;
        if (tries > 1) return shared.settle(settlements, now);
        await shared.settle(settlements, now); // committed ...
        throw new StorageError("connection lost"); // ... but its answer lost
      },
    });
    const tq = newQueue({ storage, concurrency: 1 });
    const events = recordEvents(tq.queue, ["job:cancelled", "job:retrying"]);
    tq.queue.defineHandler("t", { retry: { maxAttempts: 3, backoff: { type: "fixed", baseMs: 60_000, maxMs: 60_000, jitter: false } }, run: () => { throw new Error("boom"); } });
    const job = await tq.queue.enqueue("t", {});
    await tq.queue.start();
    await runUntil(tq.clock, () => tries === 1);
    expect(await shared.getJob(job.id)).toMatchObject({ status: "pending" }); // the retry is stored
    await tq.queue.cancel(job.id); // a pending job: cancelled at once, announced by the cancel
    await runUntil(tq.clock, () => tries > 1);
    await runUntil(tq.clock, () => false, { maxMs: 500 }).catch(() => undefined);
    expect(events.map((e) => e.name)).toEqual(["job:cancelled", "job:retrying"]);
  });
});
