import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidStateError, JobNotFoundError, StorageError, WaitTimeoutError } from "../../src/errors.js";
import type { JobRecord } from "../../src/types.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import { ManualClock } from "../../src/clock.js";
import type { Storage } from "../../src/storage/storage.js";
import { closeAll, deferred, drive, newQueue, recordEvents, runUntil, untilStatus, wrapStorage } from "./support.js";

afterEach(closeAll);

describe("cancel", () => {
  it("cancels a pending job, which then never runs", async () => {
    const tq = newQueue();
    let runs = 0;
    tq.queue.defineHandler("t", { run: () => { runs++; } });
    const job = await tq.queue.enqueue("t", {}, { delayMs: 1_000 });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:cancelled"]);
    const cancelled = await tq.queue.cancel(job.id);
    expect(cancelled.status).toBe("cancelled");
    expect(events.map((e) => e.payload)).toMatchObject([{ job: { id: job.id }, reason: "requested" }]);
    await tq.clock.advance(5_000);
    expect(runs).toBe(0);
    expect((await tq.queue.getJob(job.id))?.status).toBe("cancelled");
  });

  it("cancels a blocked job and cascades to its dependents, not to its dependency", async () => {
    const { queue } = newQueue();
    const [root, mid, leaf] = await queue.enqueueMany([
      { key: "root", type: "t" },
      { key: "mid", type: "t", dependsOn: ["root"] },
      { key: "leaf", type: "t", dependsOn: ["mid"] },
    ]);
    const events = recordEvents(queue, ["job:cancelled"]);
    await queue.cancel(mid!.id);
    expect((await queue.getJob(root!.id))?.status).toBe("pending");
    expect((await queue.getJob(mid!.id))?.status).toBe("cancelled");
    expect((await queue.getJob(leaf!.id))?.status).toBe("cancelled");
    expect(events.map((e) => [(e.payload as { job: JobRecord }).job.id, (e.payload as { reason: string }).reason])).toEqual(
      expect.arrayContaining([[mid!.id, "requested"], [leaf!.id, "dependency"]]),
    );
    expect(events).toHaveLength(2);
  });

  it("aborts a running job's signal and ends it cancelled", async () => {
    const tq = newQueue();
    let aborted = false;
    tq.queue.defineHandler("long", {
      run: (_p, ctx) =>
        new Promise<void>((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            reject(ctx.signal.reason);
          }),
        ),
    });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:cancelled", "job:retrying", "job:failed"]);
    const job = await tq.queue.enqueue("long", {});
    await untilStatus(tq, job.id, "running");
    await tq.queue.cancel(job.id);
    const cancelled = await untilStatus(tq, job.id, "cancelled");
    expect(aborted).toBe(true);
    expect(cancelled.error?.code).toBe("CANCELLED");
    await tq.clock.advance(5_000);
    expect((await tq.queue.getJob(job.id))?.status).toBe("cancelled");
    expect(events.map((e) => e.name)).toEqual(["job:cancelled"]);
  });

  it("keeps a running job cancelled when its handler ignores the signal and returns a result", async () => {
    const tq = newQueue();
    const gate = deferred();
    tq.queue.defineHandler("stubborn", { run: () => gate.promise.then(() => "finished anyway") });
    await tq.queue.start();
    const job = await tq.queue.enqueue("stubborn", {});
    await untilStatus(tq, job.id, "running");
    await tq.queue.cancel(job.id);
    await untilStatus(tq, job.id, "cancelled");
    gate.resolve();
    await tq.clock.advance(1_000);
    const after = await tq.queue.getJob(job.id);
    expect(after?.status).toBe("cancelled");
    expect(after?.result).toBeUndefined();
  });

  it("throws JobNotFoundError for an unknown id", async () => {
    const { queue } = newQueue();
    await expect(queue.cancel(randomUUID())).rejects.toBeInstanceOf(JobNotFoundError);
  });
});

describe("retry", () => {
  it("runs a failed job again with a fresh attempt budget", async () => {
    const tq = newQueue();
    let fail = true;
    tq.queue.defineHandler("t", { retry: { maxAttempts: 1 }, run: () => { if (fail) throw new Error("down"); return "up"; } });
    await tq.queue.start();
    const job = await tq.queue.enqueue("t", {});
    await untilStatus(tq, job.id, "failed");
    fail = false;
    const retried = await tq.queue.retry(job.id);
    expect(retried.status).toBe("pending");
    expect(retried.attempt).toBe(0);
    const done = await untilStatus(tq, job.id, "completed");
    expect(done.result).toBe("up");
    expect(done.error).toBeUndefined();
  });

  it("brings dependents cancelled by the failure back, and runs them after the retried job", async () => {
    const tq = newQueue();
    let fail = true;
    const order: string[] = [];
    tq.queue.defineHandler("root", { retry: { maxAttempts: 1 }, run: () => { order.push("root"); if (fail) throw new Error("down"); } });
    tq.queue.defineHandler("leaf", { run: () => { order.push("leaf"); } });
    await tq.queue.start();
    const [root, leaf] = await tq.queue.enqueueMany([
      { key: "root", type: "root" },
      { key: "leaf", type: "leaf", dependsOn: ["root"] },
    ]);
    await untilStatus(tq, leaf!.id, "cancelled");
    fail = false;
    await tq.queue.retry(root!.id);
    await untilStatus(tq, leaf!.id, "completed");
    expect(order).toEqual(["root", "root", "leaf"]);
  });

  it("a retried child of a parent still waiting runs after the parent, with its result in ctx.dependencies", async () => {
    const tq = newQueue();
    const seen: unknown[] = [];
    tq.queue.defineHandler("parent", { run: () => "from parent" });
    tq.queue.defineHandler("child", { run: (_p, ctx) => { seen.push(ctx.dependencies); } });
    const [parent, child] = await tq.queue.enqueueMany([
      { key: "parent", type: "parent", delayMs: 5_000 },
      { key: "child", type: "child", dependsOn: ["parent"] },
    ]);
    await tq.queue.cancel(child!.id);
    await tq.queue.start();
    expect((await tq.queue.retry(child!.id)).status).toBe("blocked");
    await tq.clock.advance(1_000);
    expect(seen).toEqual([]);
    await untilStatus(tq, child!.id, "completed");
    expect(seen).toEqual([{ [parent!.id]: "from parent" }]);
  });

  it("refuses to retry a job while the dependency that cancelled it is failed, naming it", async () => {
    const tq = newQueue();
    let runs = 0;
    tq.queue.defineHandler("root", { retry: { maxAttempts: 1 }, run: () => { throw new Error("down"); } });
    tq.queue.defineHandler("leaf", { run: () => { runs++; } });
    await tq.queue.start();
    const [root, leaf] = await tq.queue.enqueueMany([
      { key: "root", type: "root" },
      { key: "leaf", type: "leaf", dependsOn: ["root"] },
    ]);
    await untilStatus(tq, leaf!.id, "cancelled");
    const error = await tq.queue.retry(leaf!.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStateError);
    expect((error as Error).message).toContain(root!.id);
    await tq.clock.advance(1_000);
    expect(runs).toBe(0);
    expect((await tq.queue.getJob(leaf!.id))?.status).toBe("cancelled");
  });

  it("runs a cancelled job again", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("t", { run: () => "ran" });
    const job = await tq.queue.enqueue("t", {});
    await tq.queue.cancel(job.id);
    await tq.queue.start();
    await tq.queue.retry(job.id);
    expect((await untilStatus(tq, job.id, "completed")).result).toBe("ran");
  });

  it.each(["completed", "pending"] as const)("refuses a %s job with InvalidStateError", async (status) => {
    const tq = newQueue();
    tq.queue.defineHandler("t", { run: () => null });
    const job = await tq.queue.enqueue("t", {});
    if (status === "completed") {
      await tq.queue.start();
      await untilStatus(tq, job.id, "completed");
    }
    const error = await tq.queue.retry(job.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(error).toMatchObject({ code: "INVALID_STATE" });
    expect((await tq.queue.getJob(job.id))?.status).toBe(status);
  });

  it("throws JobNotFoundError for an unknown id", async () => {
    const { queue } = newQueue();
    await expect(queue.retry(randomUUID())).rejects.toMatchObject({ code: "JOB_NOT_FOUND" });
  });
});

describe("getJob and listJobs", () => {
  it("answers a stored job by id, and undefined for an unknown one", async () => {
    const { queue } = newQueue();
    const job = await queue.enqueue("t", { a: 1 }, { priority: "high" });
    const got = await queue.getJob(job.id);
    expect(got).toMatchObject({ id: job.id, type: "t", status: "pending", priority: "high", payload: { a: 1 }, attempt: 0 });
    expect(got?.createdAt).toBeInstanceOf(Date);
    expect(await queue.getJob(job.id.toUpperCase())).toMatchObject({ id: job.id });
    expect(await queue.getJob(randomUUID())).toBeUndefined();
  });

  it("filters by status and type and pages newest first with a cursor", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("done", { run: () => null });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await tq.queue.enqueue("a", { i })).id);
    const b = await tq.queue.enqueue("b", {});
    const done = await tq.queue.enqueue("done", {});
    await tq.queue.start();
    await untilStatus(tq, done.id, "completed");

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await tq.queue.listJobs({ type: ["a"], limit: 3, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    expect((await tq.queue.listJobs({ status: ["completed"] })).jobs.map((j) => j.id)).toEqual([done.id]);
    expect((await tq.queue.listJobs({ status: ["pending"], type: ["b"] })).jobs.map((j) => j.id)).toEqual([b.id]);
    expect((await tq.queue.listJobs({ status: ["failed"] })).jobs).toEqual([]);
    expect((await tq.queue.listJobs()).jobs).toHaveLength(9);
  });
});

describe("getJobLogs", () => {
  it("lists status changes and ctx.log lines, each with its attempt, in order", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("t", {
      retry: { maxAttempts: 2, backoff: { type: "fixed", baseMs: 100, jitter: false } },
      run: (_p, ctx) => {
        ctx.log("info", `try ${ctx.attempt}`, { attempt: ctx.attempt });
        if (ctx.attempt === 1) throw new Error("first fails");
        ctx.log("warn", "second works");
        return "ok";
      },
    });
    await tq.queue.start();
    const job = await tq.queue.enqueue("t", {});
    await untilStatus(tq, job.id, "completed");
    const logs = await tq.queue.getJobLogs(job.id);
    expect(logs.map((e) => [e.kind, e.message, e.attempt])).toEqual([
      ["status", "pending", 0],
      ["status", "running", 1],
      ["log", "try 1", 1],
      ["status", "pending", 1],
      ["status", "running", 2],
      ["log", "try 2", 2],
      ["log", "second works", 2],
      ["status", "completed", 2],
    ]);
    expect(logs[2]).toMatchObject({ level: "info", data: { attempt: 1 } });
    expect(logs[3]?.data).toMatchObject({ from: "running", error: { message: "first fails" } });
    const seqs = logs.map((e) => e.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it("throws JobNotFoundError for an unknown id", async () => {
    const { queue } = newQueue();
    await expect(queue.getJobLogs(randomUUID())).rejects.toBeInstanceOf(JobNotFoundError);
  });
});

describe("waitFor", () => {
  it("resolves with the job once it is terminal", async () => {
    const tq = newQueue();
    const gate = deferred();
    tq.queue.defineHandler("t", { run: () => gate.promise.then(() => 42) });
    await tq.queue.start();
    const job = await tq.queue.enqueue("t", {});
    let settled = false;
    const waiting = tq.queue.waitFor(job.id).finally(() => { settled = true; });
    await untilStatus(tq, job.id, "running");
    await tq.clock.advance(5_000);
    expect(settled).toBe(false);
    gate.resolve();
    const done = await drive(tq.clock, waiting);
    expect(done).toMatchObject({ id: job.id, status: "completed", result: 42 });
  });

  it("resolves at once for a job already terminal, failed or cancelled", async () => {
    const tq = newQueue();
    const job = await tq.queue.enqueue("t", {});
    await tq.queue.cancel(job.id);
    await expect(drive(tq.clock, tq.queue.waitFor(job.id))).resolves.toMatchObject({ status: "cancelled" });
  });

  it("rejects with WaitTimeoutError at timeoutMs of the queue's clock", async () => {
    const tq = newQueue();
    const job = await tq.queue.enqueue("nobody.handles", {});
    let error: unknown;
    const waiting = tq.queue.waitFor(job.id, { timeoutMs: 5_000 }).catch((e: unknown) => { error = e; });
    await tq.clock.advance(4_990);
    expect(error).toBeUndefined();
    await runUntil(tq.clock, () => error !== undefined, { maxMs: 100 });
    await waiting;
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error).toMatchObject({ code: "WAIT_TIMEOUT" });
  });

  it("rejects with JobNotFoundError for an unknown id", async () => {
    const tq = newQueue();
    await expect(drive(tq.clock, tq.queue.waitFor(randomUUID()))).rejects.toBeInstanceOf(JobNotFoundError);
  });

  it("leaves no timers behind once it settled", async () => {
    const tq = newQueue();
    const job = await tq.queue.enqueue("t", {});
    const before = tq.clock.pendingTimers;
    const waiting = tq.queue.waitFor(job.id, { timeoutMs: 10_000 });
    await tq.clock.advance(0);
    await tq.queue.cancel(job.id);
    await drive(tq.clock, waiting);
    await tq.clock.advance(2_000);
    expect(tq.clock.pendingTimers).toBe(before);
  });
});

describe("waitFor without a change feed", () => {
  it("resolves by polling and leaves no polling timer behind", async () => {
    const shared = new MemoryStorage();
    // A store whose change feed never delivers: waitFor must notice the finish by polling.
    const deaf = newQueue({ storage: wrapStorage(shared, { subscribe: () => () => undefined }) });
    const worker = newQueue({ storage: wrapStorage(shared), clock: deaf.clock });
    const gate = deferred();
    worker.queue.defineHandler("t", { run: () => gate.promise.then(() => "polled") });
    const job = await deaf.queue.enqueue("t", {});
    const waiting = deaf.queue.waitFor(job.id);
    await worker.queue.start();
    await untilStatus(worker, job.id, "running");
    gate.resolve();
    await expect(drive(deaf.clock, waiting)).resolves.toMatchObject({ status: "completed", result: "polled" });
    await drive(worker.clock, worker.queue.shutdown());
    await deaf.clock.advance(1_000);
    expect(deaf.clock.pendingTimers).toBe(0);
  });
});

describe("waitFor with a store that does not answer", () => {
  it("rejects with WAIT_TIMEOUT at timeoutMs though no store call ever answers", async () => {
    const shared = new MemoryStorage();
    const tq = newQueue({ storage: shared });
    const job = await tq.queue.enqueue("nobody.handles", {});
    // A half-open connection: every read is sent and never answered.
    const silent = newQueue({ storage: wrapStorage(shared, { getJob: () => new Promise(() => undefined), getJobs: () => new Promise(() => undefined) }), clock: tq.clock });
    let error: unknown;
    const waiting = silent.queue.waitFor(job.id, { timeoutMs: 2_000 }).catch((e: unknown) => { error = e; });
    await tq.clock.advance(1_990);
    expect(error).toBeUndefined();
    await runUntil(tq.clock, () => error !== undefined, { maxMs: 100 });
    await waiting;
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error).toMatchObject({ code: "WAIT_TIMEOUT", jobId: job.id });
  });

  it("still rejects with the store's error when the first read fails", async () => {
    const tq = newQueue({ storage: wrapStorage(new MemoryStorage(), { getJob: () => Promise.reject(new StorageError("down")) }) });
    await expect(drive(tq.clock, tq.queue.waitFor(randomUUID(), { timeoutMs: 2_000 }))).rejects.toBeInstanceOf(StorageError);
  });
});

describe("a cancel requested while the job runs is not dropped", () => {
  it("by the rescue of its expired lease: the job is cancelled, not run again", async () => {
    const LEASE_MS = 300;
    const clock = new ManualClock();
    const shared = new MemoryStorage();
    // Worker A "dies" once the job runs: no heartbeat, no settle, no change feed reaches it.
    let dead = false;
    const aStorage: Storage = wrapStorage(shared, {
      heartbeat: async (...args) => {
        if (dead) throw new StorageError("worker A is gone");
        return shared.heartbeat(...args);
      },
      settle: async (...args) => {
        if (dead) throw new StorageError("worker A is gone");
        return shared.settle(...args);
      },
      subscribe: () => () => undefined,
    });
    const a = newQueue({ clock, storage: aStorage, concurrency: 1, leaseMs: LEASE_MS, workerId: "a" });
    const runs: string[] = [];
    a.queue.defineHandler("t", { retry: { maxAttempts: 3 }, run: () => { runs.push("a"); return new Promise(() => undefined); } });
    const job = await a.queue.enqueue("t", {});
    await a.queue.start();
    await untilStatus(a, job.id, "running");
    dead = true;

    const b = newQueue({ clock, storage: wrapStorage(shared), concurrency: 1, leaseMs: LEASE_MS, workerId: "b" });
    b.queue.defineHandler("t", { retry: { maxAttempts: 3 }, run: () => { runs.push("b"); return "b"; } });
    const cancelled = await b.queue.cancel(job.id); // running elsewhere: a cancel request
    expect(cancelled.status).toBe("running");
    await b.queue.start();
    // The lease expires; the rescue must honour the request.
    await runUntil(clock, async () => {
      const status = (await shared.getJob(job.id))?.status;
      return status === "cancelled" || status === "completed" || runs.includes("b");
    });
    expect(runs).toEqual(["a"]);
    expect(await shared.getJob(job.id)).toMatchObject({ status: "cancelled" });
  });

  it("by the attempt's retry stored after the cancel was accepted: the job is cancelled and announced so, not retried", async () => {
    const shared = new MemoryStorage();
    const settleGate = deferred();
    let settleWaiting = false;
    const storage = wrapStorage(shared, {
      settle: async (...args) => {
        settleWaiting = true;
        await settleGate.promise;
        return shared.settle(...args);
      },
    });
    const tq = newQueue({ storage, concurrency: 1 });
    const events = recordEvents(tq.queue, ["job:retrying", "job:cancelled"]);
    let runs = 0;
    tq.queue.defineHandler("t", {
      retry: { maxAttempts: 3, backoff: { type: "fixed", baseMs: 0, maxMs: 0, jitter: false } },
      run: () => { runs++; throw new Error("boom"); },
    });
    const job = await tq.queue.enqueue("t", {});
    await tq.queue.start();
    await runUntil(tq.clock, () => settleWaiting);
    const answered = await tq.queue.cancel(job.id);
    expect(answered.status).toBe("running"); // accepted as a request
    settleGate.resolve();
    await runUntil(tq.clock, async () => {
      const j = await shared.getJob(job.id);
      return runs > 1 || j?.status === "cancelled" || j?.status === "failed";
    });
    expect(runs).toBe(1);
    expect(await shared.getJob(job.id)).toMatchObject({ status: "cancelled" });
    expect(events.map((e) => e.name)).toEqual(["job:cancelled"]);
  });
});
