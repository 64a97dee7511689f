import { afterEach, describe, expect, it } from "vitest";
import { StorageError } from "../../src/errors.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { Storage } from "../../src/storage/storage.js";
import { closeAll, deferred, newQueue, prefetchedBehindHeld, recordEvents, runUntil, untilStatus, wrapStorage } from "./support.js";

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

describe("the read-back of an attempt whose number was used before", () => {
  it("announces the retry it stored, not the cancel an earlier run of the same attempt number stored", async () => {
    const shared = new MemoryStorage();
    let loseNext = false;
    let settles = 0;
    const storage: Storage = wrapStorage(shared, {
      settle: async (settlements, now) => {
        settles++;
        if (!loseNext) return shared.settle(settlements, now);
        loseNext = false;
        await shared.settle(settlements, now); // committed ...
        throw new StorageError("connection lost"); // ... but its answer lost
      },
    });
    const tq = newQueue({ storage, concurrency: 1 });
    const events = recordEvents(tq.queue, ["job:cancelled", "job:retrying"]);
    const hold = deferred();
    let run = 0;
    tq.queue.defineHandler("t", {
      retry: { maxAttempts: 3, backoff: { type: "fixed", baseMs: 60_000, maxMs: 60_000, jitter: false } },
      run: async (_p, ctx) => {
        run++;
        if (run === 1) {
          // first run: cancelled while it runs (attempt 1 stored as cancelled, CANCELLED)
          await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
        }
        await hold.promise;
        throw new Error("boom");
      },
    });
    const job = await tq.queue.enqueue("t", {});
    await tq.queue.start();
    await untilStatus(tq, job.id, "running");
    await tq.queue.cancel(job.id);
    await untilStatus(tq, job.id, "cancelled");
    await tq.queue.retry(job.id); // attempt counter back to 0: the next run is attempt 1 again
    await untilStatus(tq, job.id, "running");
    loseNext = true;
    const before = settles;
    hold.resolve();
    await runUntil(tq.clock, () => settles > before + 1);
    await runUntil(tq.clock, () => false, { maxMs: 500 }).catch(() => undefined);
    expect((await shared.getJob(job.id))?.status).toBe("pending"); // the retry is what was stored
    // the first run's cancel, then the second run's retry
    expect(events.map((e) => e.name)).toEqual(["job:cancelled", "job:retrying"]);
  });
});

describe("the read-back of an attempt run again under its number after a release", () => {
  it("announces its completion when the completion's first settle answer was lost", async () => {
    const shared = new MemoryStorage();
    let answersLost = false;
    let loseSettleOf: string | undefined;
    const storage: Storage = wrapStorage(shared, {
      heartbeat: async (...args) => {
        const results = await shared.heartbeat(...args); // the store extends the leases ...
        if (answersLost) throw new StorageError("heartbeat timed out"); // ... the answer does not arrive
        return results;
      },
      settle: async (settlements, now) => {
        const lose = loseSettleOf !== undefined && settlements.some((s) => s.lease.jobId === loseSettleOf && s.outcome.type === "completed");
        if (!lose) return shared.settle(settlements, now);
        loseSettleOf = undefined;
        await shared.settle(settlements, now); // committed ...
        throw new StorageError("connection lost"); // ... but its answer lost
      },
    });
    const tq = newQueue({ storage, concurrency: 1, prefetch: 1, leaseMs: 300 });
    const events = recordEvents(tq.queue, ["job:completed", "job:interrupted"]);
    const { y, releaseX } = await prefetchedBehindHeld(tq);
    answersLost = true;
    await runUntil(tq.clock, () => false, { maxMs: 500 }).catch(() => undefined);
    answersLost = false;
    loseSettleOf = y;
    releaseX();
    await runUntil(tq.clock, async () => (await shared.getJob(y))?.status === "completed");
    await runUntil(tq.clock, () => false, { maxMs: 500 }).catch(() => undefined);
    expect((await shared.getJob(y))!.attempts.map((a) => [a.attempt, a.outcome])).toEqual([[1, "interrupted"], [1, "completed"]]);
    const forY = events.filter((e) => (e.payload as { job: { id: string } }).job.id === y).map((e) => e.name);
    expect(forY).toEqual(["job:interrupted", "job:completed"]);
  });
});
