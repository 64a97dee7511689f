import { afterEach, expect, it, describe } from "vitest";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { ChangeListener, ClaimRequest } from "../../src/storage/storage.js";
import type { JobId } from "../../src/types.js";
import { closeAll, deferred, newQueue, runUntil, wrapStorage } from "./support.js";
import { newPostgresStorage, postgresAvailable } from "../support/postgres.js";
import type { Storage } from "../../src/storage/storage.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await closeAll();
  for (const c of cleanups.splice(0)) await c();
});

describe("a cancel accepted between a claim's commit and its answer reaching the worker", () => {
  it.each(["memory", "postgres"] as const)("%s: the handler never runs, or its signal aborts, and the job does not end completed", async (kind) => {
    if (kind === "postgres" && !postgresAvailable) return;
    let store: Storage = new MemoryStorage();
    if (kind === "postgres") {
      const made = await newPostgresStorage({ listen: true });
      cleanups.push(made.cleanup);
      store = made.storage;
    }
    const target: { id?: JobId } = {};
    let cancelDuringClaim: ((id: JobId) => Promise<unknown>) | undefined;
    const cancelAccepted = deferred<string>();
    // The claim commits in the store; before its answer is read, another process cancels the job
    // (the store holds it as running: a cancel request). Over a network this is the claim's reply in flight.
    const storage = wrapStorage(store, {
      claimJobs: async (request: ClaimRequest) => {
        const result = await store.claimJobs(request);
        if (target.id !== undefined && result.claimed.some((c) => c.job.id === target.id) && cancelDuringClaim !== undefined) {
          const cancel = cancelDuringClaim;
          cancelDuringClaim = undefined;
          const job = (await cancel(target.id)) as { status: string };
          cancelAccepted.resolve(job.status);
        }
        return result;
      },
    });
    const tq = newQueue({ storage, leaseMs: 30_000 });
    const runs: string[] = [];
    let sawAbort = false;
    tq.queue.defineHandler("pay", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        runs.push("ran");
        // A short job: done well within one heartbeat interval (leaseMs / 3 = 10 s).
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (ctx.signal.aborted) sawAbort = true;
        return { paid: true };
      },
    });
    const job = await tq.queue.enqueue("pay", {});
    target.id = job.id;
    cancelDuringClaim = (id) => tq.queue.cancel(id);
    await tq.queue.start();
    expect(await cancelAccepted.promise).toBe("running"); // the cancel was accepted as a request
    await runUntil(tq.clock, async () => ["completed", "failed", "cancelled"].includes((await tq.queue.getJob(job.id))?.status ?? ""), { maxMs: 60_000, stepMs: 100 });
    const final = await tq.queue.getJob(job.id);
    expect({ status: final?.status, handlerRanUnaborted: runs.length > 0 && !sawAbort }).toEqual({ status: "cancelled", handlerRanUnaborted: false });
  });
});

/**
 * A queue on a MemoryStorage whose claim, the first time it brings the job, delivers to the feed a
 * cancel request for it that the store does not hold (as a late notification would), with a "pay" handler
 * that counts its runs.
 */
async function queueHearingACancelDuringClaim() {
  const store = new MemoryStorage();
  let feed: ChangeListener | undefined;
  const target: { id?: JobId | undefined } = {};
  const storage = wrapStorage(store, {
    subscribe: (listener: ChangeListener) => {
      feed = listener;
      return store.subscribe(listener);
    },
    claimJobs: async (request: ClaimRequest) => {
      const result = await store.claimJobs(request);
      const claimed = result.claimed.find((c) => c.job.id === target.id);
      // Once: a late notification arrives once.
      if (claimed !== undefined) target.id = undefined;
      if (claimed !== undefined) feed?.onChange([{ id: claimed.job.id, type: claimed.job.type, status: "running", attempt: claimed.lease.attempt, at: new Date(), cancelRequested: true }]);
      return result;
    },
  });
  const tq = newQueue({ storage, leaseMs: 30_000 });
  const runs: string[] = [];
  tq.queue.defineHandler("pay", { retry: { maxAttempts: 1 }, run: async () => { runs.push("ran"); return { paid: true }; } });
  const job = await tq.queue.enqueue("pay", {});
  target.id = job.id;
  const outcome = async () => {
    await tq.queue.start();
    await runUntil(tq.clock, async () => ["completed", "failed", "cancelled"].includes((await tq.queue.getJob(job.id))?.status ?? ""), { maxMs: 60_000, stepMs: 100 });
    return { status: (await tq.queue.getJob(job.id))?.status, runs };
  };
  return { outcome };
}

describe("a cancel request heard during a claim for a job it brings, which the store holds no request for", () => {
  it("releases that attempt unburnt, and the job runs once: the request was for an earlier attempt (an id names no attempt once a job is retried)", async () => {
    const { outcome } = await queueHearingACancelDuringClaim();
    expect(await outcome()).toEqual({ status: "completed", runs: ["ran"] });
  });
});
