import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { StorageError } from "../../src/errors.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { Storage } from "../../src/storage/storage.js";
import { closeAll, deferred, newQueue, recordEvents, runUntil, untilStatus, wrapStorage } from "./support.js";

afterEach(closeAll);

const LEASE_MS = 300;
const noBackoff = { type: "fixed" as const, baseMs: 0, maxMs: 0, jitter: false };

/** Worker A, whose heartbeats can be made to fail (a lost connection), running a job it holds open. */
async function stalledWorker(maxAttempts: number) {
  const clock = new ManualClock();
  const shared = new MemoryStorage();
  let heartbeatsFail = false;
  let heartbeatCalls = 0;
  const flaky: Storage = wrapStorage(shared, {
    heartbeat: async (...args) => {
      heartbeatCalls++;
      if (heartbeatsFail) throw new StorageError("connection lost");
      return shared.heartbeat(...args);
    },
  });
  const a = newQueue({ clock, storage: flaky, concurrency: 1, leaseMs: LEASE_MS, workerId: "worker-a" });
  const release = deferred<string>();
  let aRuns = 0;
  a.queue.defineHandler("transfer", {
    retry: { maxAttempts, backoff: noBackoff },
    run: () => {
      aRuns++;
      return release.promise;
    },
  });
  await a.queue.start();
  const job = await a.queue.enqueue("transfer", { amount: 100 });
  await untilStatus(a, job.id, "running");
  return {
    clock, shared, a, job, release,
    stopHeartbeats: () => { heartbeatsFail = true; },
    get heartbeatCalls() { return heartbeatCalls; },
    get aRuns() { return aRuns; },
  };
}

describe("leases", () => {
  it("keeps a long attempt's lease alive while its heartbeats work", async () => {
    const w = await stalledWorker(3);
    await w.clock.advance(LEASE_MS * 10);
    expect(w.heartbeatCalls).toBeGreaterThan(5);
    expect(await w.shared.getJob(w.job.id)).toMatchObject({ status: "running", attempt: 1 });
    w.release.resolve("a");
    expect((await untilStatus(w.a, w.job.id, "completed")).result).toBe("a");
  });

  it("rescues an attempt whose heartbeats stopped: retried elsewhere as attempt 2, the late old finish changes nothing", async () => {
    const w = await stalledWorker(3);
    await w.clock.advance(LEASE_MS * 2); // heartbeats renew the lease for a while
    w.stopHeartbeats();
    const b = newQueue({ clock: w.clock, storage: wrapStorage(w.shared), leaseMs: LEASE_MS, workerId: "worker-b" });
    const bAttempts: number[] = [];
    b.queue.defineHandler("transfer", {
      retry: { maxAttempts: 3, backoff: noBackoff },
      run: (_p, ctx) => {
        bAttempts.push(ctx.attempt);
        return `b:${ctx.attempt}`;
      },
    });
    const aEvents = recordEvents(w.a.queue, ["job:completed", "job:retrying", "job:failed"]);
    const bEvents = recordEvents(b.queue, ["job:completed", "job:retrying"]);
    await b.queue.start();

    const done = await untilStatus(b, w.job.id, "completed");
    expect(done.attempt).toBe(2);
    expect(done.result).toBe("b:2");
    expect(bAttempts).toEqual([2]);
    const retrying = [...aEvents, ...bEvents].filter((e) => e.name === "job:retrying");
    expect(retrying).toHaveLength(1);
    expect(retrying[0]?.payload).toMatchObject({ error: { code: "LEASE_EXPIRED" }, attempt: 1 });

    // The old attempt finishes late: its settle is a lost compare-and-set.
    w.release.resolve("late result from a");
    await w.clock.advance(1_000);
    const after = await w.shared.getJob(w.job.id);
    expect(after).toMatchObject({ status: "completed", attempt: 2, result: "b:2" });
    expect(aEvents.filter((e) => e.name === "job:completed")).toHaveLength(0);
    expect(w.aRuns).toBe(1);
    const statuses = (await w.shared.listLogs(w.job.id)).filter((e) => e.kind === "status").map((e) => [e.message, e.attempt]);
    expect(statuses).toEqual([["pending", 0], ["running", 1], ["pending", 1], ["running", 2], ["completed", 2]]);
    // Counted once across the two workers: the rescue's retry where it was rescued, the lost late finish nowhere.
    const sum = (key: "completed" | "retried" | "failed") => [w.a.queue, b.queue].reduce((n, q) => n + (q.metricsSinceStart().byType.transfer?.[key] ?? 0), 0);
    await runUntil(w.clock, () => sum("completed") === 1 && sum("retried") === 1);
    await w.clock.advance(1_000);
    expect({ completed: sum("completed"), retried: sum("retried"), failed: sum("failed") }).toEqual({ completed: 1, retried: 1, failed: 0 });
  });

  it("leaves a job to its worker when its lease is renewed between the rescuer's find and its settle", async () => {
    const clock = new ManualClock();
    const shared = new MemoryStorage();
    let heartbeatsFail = false;
    let renewed = 0;
    const storage: Storage = wrapStorage(shared, {
      heartbeat: async (...args) => {
        if (heartbeatsFail) throw new StorageError("connection lost");
        return shared.heartbeat(...args);
      },
      // The connection comes back just after the rescuer found the lease expired, and a heartbeat beats its settle.
      findExpiredLeases: async (...args) => {
        const found = await shared.findExpiredLeases(...args);
        if (found.length > 0) heartbeatsFail = false;
        for (const { lease } of found) {
          const [answer] = await shared.heartbeat([lease], LEASE_MS, new Date(clock.now()));
          if (answer?.state === "alive") renewed++;
        }
        return found;
      },
    });
    const q = newQueue({ clock, storage, concurrency: 1, leaseMs: LEASE_MS });
    const { queue } = q;
    const release = deferred<string>();
    let runs = 0;
    queue.defineHandler("transfer", {
      retry: { maxAttempts: 3, backoff: noBackoff },
      run: () => {
        runs++;
        return release.promise;
      },
    });
    await queue.start();
    const job = await queue.enqueue("transfer", { amount: 100 });
    await untilStatus(q, job.id, "running");
    heartbeatsFail = true;
    await runUntil(clock, () => renewed > 0);
    await clock.advance(LEASE_MS * 3);
    expect(await shared.getJob(job.id)).toMatchObject({ status: "running", attempt: 1 });
    release.resolve("done once");
    expect(await untilStatus(q, job.id, "completed")).toMatchObject({ attempt: 1, result: "done once" });
    expect(runs).toBe(1);
  });

  it("fails a rescued job whose attempts are used up, with LEASE_EXPIRED, and ignores the late finish", async () => {
    const w = await stalledWorker(1);
    w.stopHeartbeats();
    const failed = await untilStatus(w.a, w.job.id, "failed");
    expect(failed.error?.code).toBe("LEASE_EXPIRED");
    expect(failed.attempt).toBe(1);
    w.release.resolve("too late");
    await w.clock.advance(1_000);
    expect(await w.shared.getJob(w.job.id)).toMatchObject({ status: "failed", result: undefined });
    // The rescue counts the failure; the late finish, a lost settle, counts nothing.
    await runUntil(w.clock, () => w.a.queue.metricsSinceStart().byType.transfer?.failed === 1);
    await w.clock.advance(1_000);
    expect(w.a.queue.metricsSinceStart().byType.transfer).toMatchObject({ completed: 0, failed: 1, retried: 0 });
  });

  it("aborts the old attempt's signal once a heartbeat finds its lease lost", async () => {
    const clock = new ManualClock();
    const shared = new MemoryStorage();
    let failing = true;
    const a = newQueue({
      clock, leaseMs: LEASE_MS, concurrency: 1,
      storage: wrapStorage(shared, {
        heartbeat: async (...args) => {
          if (failing) throw new StorageError("connection lost");
          return shared.heartbeat(...args);
        },
      }),
    });
    let abortReason: unknown;
    a.queue.defineHandler("t", {
      retry: { maxAttempts: 2, backoff: noBackoff },
      run: (_p, ctx) =>
        ctx.attempt === 1
          ? new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => { abortReason = ctx.signal.reason; reject(ctx.signal.reason); }))
          : "second",
    });
    await a.queue.start();
    const job = await a.queue.enqueue("t", {});
    await untilStatus(a, job.id, "running");
    // Rescued while the connection is down; then the connection comes back.
    await runUntil(clock, async () => (await shared.getJob(job.id))?.status === "pending");
    failing = false;
    await runUntil(clock, () => abortReason !== undefined);
    expect(abortReason).toMatchObject({ code: "LEASE_LOST" });
    expect((await untilStatus(a, job.id, "completed")).result).toBe("second");
  });
});

/**
 * A worker whose heartbeats get no answer while a job's first attempt runs (and ignores its signal):
 * the lease expires, the same worker claims the job again, and its second attempt starts. Each
 * attempt's handler returns only when its deferred is resolved. The heartbeats fail, or with
 * `answerLate` the first of them is held and answered only when `answerHeldHeartbeat` is called.
 */
async function reclaimedByTheSameWorker(options: Parameters<typeof newQueue>[0] = {}, { answerLate = false } = {}) {
  const clock = new ManualClock();
  const shared = new MemoryStorage();
  let heartbeatsFail = false;
  const held = deferred();
  let holding = false;
  const tq = newQueue({
    clock, leaseMs: LEASE_MS, concurrency: 2, ...options,
    storage: wrapStorage(shared, {
      heartbeat: async (...args) => {
        if (heartbeatsFail && answerLate && !holding) {
          holding = true;
          await held.promise;
        } else if (heartbeatsFail) {
          throw new StorageError("connection lost");
        }
        return shared.heartbeat(...args);
      },
    }),
  });
  const first = deferred<string>();
  const second = deferred<string>();
  const attempts: number[] = [];
  tq.queue.defineHandler("t", {
    retry: { maxAttempts: 3, backoff: noBackoff },
    run: (_p, ctx) => {
      attempts.push(ctx.attempt);
      return ctx.attempt === 1 ? first.promise : second.promise;
    },
  });
  await tq.queue.start();
  const job = await tq.queue.enqueue("t", {});
  await untilStatus(tq, job.id, "running");
  heartbeatsFail = true;
  await runUntil(clock, () => attempts.length === 2);
  heartbeatsFail = false;
  return { ...tq, shared, job, first, second, attempts, answerHeldHeartbeat: () => held.resolve() };
}

describe("a job claimed again by the worker that lost its lease", () => {
  it("keeps the new attempt's lease alive after the old attempt's handler finally returns", async () => {
    const a = await reclaimedByTheSameWorker();
    a.first.resolve("late");
    await a.clock.advance(LEASE_MS * 10);
    expect(await a.shared.getJob(a.job.id)).toMatchObject({ status: "running", attempt: 2 });
    expect(a.attempts).toEqual([1, 2]);
    a.second.resolve("second");
    expect(await untilStatus(a, a.job.id, "completed")).toMatchObject({ attempt: 2, result: "second" });
  });

  it("is waited for by shutdown in both its attempts, not only the new one", async () => {
    const a = await reclaimedByTheSameWorker({ shutdownGraceMs: 60_000 });
    let shutDown = false;
    const shutdown = a.queue.shutdown().then(() => (shutDown = true));
    a.second.resolve("second");
    await untilStatus(a, a.job.id, "completed");
    // The first attempt's handler still runs: shutdown waits for it, within its grace.
    await a.clock.advance(10_000);
    expect(shutDown).toBe(false);
    a.first.resolve("late");
    await runUntil(a.clock, () => shutDown);
    await shutdown;
    expect(a.attempts).toEqual([1, 2]);
  });
});

describe("a settle that meets a storage error", () => {
  it("is tried again, so an outage shorter than the retries loses no completion", async () => {
    const clock = new ManualClock();
    const shared = new MemoryStorage();
    let failuresLeft = 2;
    const flaky = wrapStorage(shared, {
      settle: async (...args) => {
        if (failuresLeft > 0) {
          failuresLeft--;
          throw new StorageError("connection lost");
        }
        return shared.settle(...args);
      },
    });
    const { queue } = newQueue({ clock, storage: flaky, concurrency: 1, leaseMs: 10_000 });
    queue.defineHandler("transfer", { run: () => ({ ok: true }) });
    const errors = recordEvents(queue, ["queue:error"]);
    await queue.start();
    const job = await queue.enqueue("transfer", {});
    await runUntil(clock, async () => (await queue.getJob(job.id))?.status === "completed", { stepMs: 50, maxMs: 5_000 });
    const done = await queue.getJob(job.id);
    expect(done?.status).toBe("completed");
    expect(done?.attempt).toBe(1);
    expect(done?.result).toEqual({ ok: true });
    expect(failuresLeft).toBe(0);
    expect(errors.filter((e) => String((e.payload as { context: string }).context).startsWith("settle job"))).toHaveLength(2);
  });
});

describe("a rescued job", () => {
  it("keeps its place in line: it is claimed before the jobs of its priority enqueued after it", async () => {
    const clock = new ManualClock();
    const shared = new MemoryStorage();
    const producer = newQueue({ clock, storage: wrapStorage(shared) });
    const first = await producer.queue.enqueue("transfer", { n: 0 });
    // A worker claims it and dies: nothing renews the lease.
    const { claimed } = await shared.claimJobs({
      workerId: "dead", types: ["transfer"], limit: 1, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: LEASE_MS, now: new Date(clock.now()),
    });
    expect(claimed.map((c) => c.job.id)).toEqual([first.id]);
    for (let n = 1; n <= 3; n++) {
      await clock.advance(10);
      await producer.queue.enqueue("transfer", { n });
    }
    // A queue without handlers only rescues.
    const rescuer = newQueue({ clock, storage: wrapStorage(shared), leaseMs: LEASE_MS });
    await rescuer.queue.start();
    const rescued = await untilStatus(rescuer, first.id, "pending");
    expect(rescued).toMatchObject({ attempt: 1, error: { code: "LEASE_EXPIRED" } });

    const order: number[] = [];
    const worker = newQueue({ clock, storage: wrapStorage(shared), concurrency: 1, leaseMs: LEASE_MS });
    worker.queue.defineHandler("transfer", { run: (payload) => { order.push((payload as { n: number }).n); } });
    await worker.queue.start();
    await runUntil(clock, () => order.length === 4);
    expect(order).toEqual([0, 1, 2, 3]);
  });
});

describe("an outcome waiting for the attempt's log lines to be written", () => {
  it("keeps the lease alive until the outcome is stored, so a slow log write does not run the job again", async () => {
    const clock = new ManualClock();
    const shared = new MemoryStorage();
    const logsWritten = deferred();
    const tq = newQueue({
      clock, leaseMs: LEASE_MS,
      storage: wrapStorage(shared, {
        appendLogs: async (lines) => {
          await logsWritten.promise;
          return shared.appendLogs(lines);
        },
      }),
    });
    let runs = 0;
    tq.queue.defineHandler("t", {
      // Heartbeats renew the lease while the handler runs; it logs a line and returns between two of them.
      run: async (_p, ctx) => {
        runs++;
        await new Promise<void>((resolve) => clock.setTimer(resolve, LEASE_MS + 20));
        ctx.log("info", "before the outcome");
        return "done";
      },
    });
    await tq.queue.start();
    const job = await tq.queue.enqueue("t", {});
    await runUntil(clock, () => runs === 1);
    // The log write is given up after a lease; the outcome is stored then, under a lease kept alive meanwhile.
    await clock.advance(LEASE_MS * 10);
    expect(runs).toBe(1);
    expect(await shared.getJob(job.id)).toMatchObject({ status: "completed", attempt: 1, result: "done" });
    logsWritten.resolve();
  });
});

describe("a heartbeat answered after its job was claimed again", () => {
  it("applies its answer to the attempt it was sent for, not to the newer attempt of the same job", async () => {
    const a = await reclaimedByTheSameWorker({}, { answerLate: true });
    a.answerHeldHeartbeat();
    await a.clock.advance(LEASE_MS * 3);
    // The late answer ("lost", for the first attempt's lease) must leave the second attempt alone.
    expect(await a.shared.getJob(a.job.id)).toMatchObject({ status: "running", attempt: 2 });
    a.second.resolve("second");
    a.first.resolve("late");
    expect(await untilStatus(a, a.job.id, "completed")).toMatchObject({ attempt: 2, result: "second" });
    expect(a.attempts).toEqual([1, 2]);
  });
});
