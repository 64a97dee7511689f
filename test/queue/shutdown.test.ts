import { afterEach, describe, expect, it } from "vitest";
import { QueueClosedError } from "../../src/errors.js";
import { Queue } from "../../src/queue.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import { closeAll, deferred, drive, newQueue, recordEvents, runUntil, untilStatus, wrapStorage } from "./support.js";

afterEach(closeAll);

describe("start and shutdown", () => {
  it("claims nothing before start", async () => {
    const tq = newQueue();
    let runs = 0;
    tq.queue.defineHandler("t", { run: () => { runs++; } });
    const job = await tq.queue.enqueue("t", {});
    await tq.clock.advance(10_000);
    expect(runs).toBe(0);
    await tq.queue.start();
    await untilStatus(tq, job.id, "completed");
  });

  it("stops claiming at once and lets a running job finish within shutdownGraceMs", async () => {
    const shared = new MemoryStorage();
    const tq = newQueue({ concurrency: 1, shutdownGraceMs: 5_000, storage: wrapStorage(shared) });
    const gate = deferred();
    const started: string[] = [];
    tq.queue.defineHandler("t", {
      run: async (payload) => {
        started.push((payload as { name: string }).name);
        if ((payload as { name: string }).name === "first") await gate.promise;
        return "done";
      },
    });
    await tq.queue.start();
    const first = await tq.queue.enqueue("t", { name: "first" });
    const second = await tq.queue.enqueue("t", { name: "second" });
    await untilStatus(tq, first.id, "running");
    let closed = false;
    const closing = tq.queue.shutdown().then(() => { closed = true; });
    await tq.clock.advance(1_000);
    expect(closed).toBe(false);
    gate.resolve();
    await drive(tq.clock, closing);
    expect(started).toEqual(["first"]);
    expect(await shared.getJob(first.id)).toMatchObject({ status: "completed", attempt: 1, result: "done" });
    expect(await shared.getJob(second.id)).toMatchObject({ status: "pending", attempt: 0 });
    expect(tq.clock.pendingTimers).toBe(0);
  });

  it("starts no handler for a claim answered after shutdown began: its jobs go back to pending unburnt", async () => {
    const shared = new MemoryStorage();
    const answer = deferred();
    let claims = 0;
    const storage = wrapStorage(shared, {
      claimJobs: async (request) => {
        claims++;
        // The first claim that finds the job is answered only once the test lets it.
        const result = await shared.claimJobs(request);
        if (result.claimed.length > 0) await answer.promise;
        return result;
      },
    });
    const tq = newQueue({ concurrency: 2, storage });
    let runs = 0;
    tq.queue.defineHandler("t", { run: () => { runs++; return "ran"; } });
    await tq.queue.start();
    const job = await tq.queue.enqueue("t", {});
    await runUntil(tq.clock, async () => (await shared.getJob(job.id))?.status === "running");
    const closing = tq.queue.shutdown();
    answer.resolve();
    await drive(tq.clock, closing);
    expect(runs).toBe(0);
    expect(claims).toBeGreaterThan(0);
    expect(await shared.getJob(job.id)).toMatchObject({ status: "pending", attempt: 0 });
  });

  it("aborts what outlives the grace and releases it to pending without burning an attempt", async () => {
    const shared = new MemoryStorage();
    const tq = newQueue({ shutdownGraceMs: 2_000, storage: wrapStorage(shared) });
    let reason: unknown;
    let runs = 0;
    tq.queue.defineHandler("long", {
      retry: { maxAttempts: 1 },
      run: (_p, ctx) => {
        runs++;
        return new Promise<void>((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => {
            reason = ctx.signal.reason;
            reject(ctx.signal.reason);
          }),
        );
      },
    });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:interrupted", "job:failed", "job:retrying", "job:cancelled"]);
    const job = await tq.queue.enqueue("long", {});
    await untilStatus(tq, job.id, "running");
    expect((await tq.queue.getJob(job.id))?.attempt).toBe(1);
    const closing = tq.queue.shutdown();
    await tq.clock.advance(1_900);
    expect(reason).toBeUndefined();
    await drive(tq.clock, closing);
    expect(reason).toMatchObject({ code: "QUEUE_CLOSED" });
    expect(events.map((e) => e.name)).toEqual(["job:interrupted"]);
    expect(events[0]?.payload).toMatchObject({ job: { id: job.id, status: "pending", attempt: 0 }, attempt: 1 });
    const released = await shared.getJob(job.id);
    expect(released).toMatchObject({ status: "pending", attempt: 0 });
    expect(tq.clock.pendingTimers).toBe(0);

    // Another worker picks it up, with its whole attempt budget (maxAttempts 1).
    const next = newQueue({ storage: wrapStorage(shared) });
    next.queue.defineHandler("long", { run: (_p, ctx) => ctx.attempt });
    await next.queue.start();
    expect((await untilStatus(next, job.id, "completed")).result).toBe(1);
    expect(runs).toBe(1);
  });

  it("resolves and leaves no timers even when an aborted handler never returns", async () => {
    const shared = new MemoryStorage();
    const tq = newQueue({ shutdownGraceMs: 1_000, stuckGraceMs: 5_000, storage: wrapStorage(shared) });
    const never = deferred();
    tq.queue.defineHandler("deaf", { run: () => never.promise });
    await tq.queue.start();
    const interrupted = recordEvents(tq.queue, ["job:interrupted"]);
    const job = await tq.queue.enqueue("deaf", {});
    await untilStatus(tq, job.id, "running");
    await drive(tq.clock, tq.queue.shutdown());
    expect(interrupted).toHaveLength(1);
    expect(await shared.getJob(job.id)).toMatchObject({ status: "pending", attempt: 0 });
    expect(tq.clock.pendingTimers).toBe(0);
  });

  it("leaves no timers after shutting down a busy queue with waiters, retries and delayed jobs", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("flaky", { retry: { maxAttempts: 3, backoff: { type: "fixed", baseMs: 60_000, jitter: false } }, run: () => { throw new Error("x"); } });
    tq.queue.defineHandler("later", { run: () => null });
    await tq.queue.start();
    const flaky = await tq.queue.enqueue("flaky", {});
    await tq.queue.enqueue("later", {}, { delayMs: 120_000 });
    const waiting = tq.queue.waitFor(flaky.id, { timeoutMs: 600_000 }).catch((e: unknown) => e);
    await runUntil(tq.clock, async () => (await tq.queue.getJob(flaky.id))?.attempt === 1 && (await tq.queue.getJob(flaky.id))?.status === "pending");
    await drive(tq.clock, tq.queue.shutdown());
    expect(await waiting).toBeInstanceOf(QueueClosedError);
    expect(tq.clock.pendingTimers).toBe(0);
  });

  it.each([
    ["enqueue", (q: ReturnType<typeof newQueue>["queue"]) => q.enqueue("t", {})],
    ["enqueueMany", (q: ReturnType<typeof newQueue>["queue"]) => q.enqueueMany([{ key: "a", type: "t" }])],
    ["cancel", (q: ReturnType<typeof newQueue>["queue"]) => q.cancel("00000000-0000-4000-8000-000000000000")],
    ["retry", (q: ReturnType<typeof newQueue>["queue"]) => q.retry("00000000-0000-4000-8000-000000000000")],
    ["start", (q: ReturnType<typeof newQueue>["queue"]) => q.start()],
  ])("rejects %s after shutdown with QueueClosedError", async (_name, call) => {
    const tq = newQueue();
    await tq.queue.start();
    await drive(tq.clock, tq.queue.shutdown());
    const error = await call(tq.queue).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueClosedError);
    expect(error).toMatchObject({ code: "QUEUE_CLOSED" });
  });

  it("rejects enqueue while shutdown is in progress", async () => {
    const tq = newQueue();
    const gate = deferred();
    tq.queue.defineHandler("t", { run: () => gate.promise });
    await tq.queue.start();
    const job = await tq.queue.enqueue("t", {});
    await untilStatus(tq, job.id, "running");
    const closing = tq.queue.shutdown();
    await expect(tq.queue.enqueue("t", {})).rejects.toBeInstanceOf(QueueClosedError);
    gate.resolve();
    await drive(tq.clock, closing);
  });

  it("is safe to call shutdown twice, and on a queue never started", async () => {
    const tq = newQueue();
    const a = tq.queue.shutdown();
    const b = tq.queue.shutdown();
    await drive(tq.clock, Promise.all([a, b]));
    expect(tq.clock.pendingTimers).toBe(0);
  });

  it("leaves a store the caller passed in open: the queue and a second queue on it still read it until the caller closes it", async () => {
    const storage = new MemoryStorage();
    const first = newQueue({ storage });
    first.queue.defineHandler("t", { run: () => "done" });
    await first.queue.start();
    const job = await first.queue.enqueue("t", {});
    await untilStatus(first, job.id, "completed");
    await drive(first.clock, first.queue.shutdown());
    expect(await first.queue.getJob(job.id)).toMatchObject({ status: "completed", result: "done" });
    const second = newQueue({ storage, clock: first.clock });
    expect(await second.queue.getJob(job.id)).toMatchObject({ status: "completed" });
    expect((await second.queue.enqueue("t", {})).status).toBe("pending");
    await storage.close();
    await expect(second.queue.getJob(job.id)).rejects.toBeInstanceOf(QueueClosedError);
  });

  it("closes the store it made itself (no storage option) on shutdown", async () => {
    const queue = new Queue();
    const job = await queue.enqueue("t", {});
    await queue.shutdown();
    await expect(queue.getJob(job.id)).rejects.toBeInstanceOf(QueueClosedError);
    await expect(queue.storage.getJob(job.id)).rejects.toBeInstanceOf(QueueClosedError);
  });
});

describe("shutdown and an outcome waiting for its log lines", () => {
  it("shutdown resolves only once the interrupted outcome of an attempt that logged is stored", async () => {
    const shared = new MemoryStorage();
    const logGate = deferred();
    let logWrites = 0;
    const storage = wrapStorage(shared, {
      appendLogs: async (lines) => {
        logWrites++;
        await logGate.promise;
        return shared.appendLogs(lines);
      },
    });
    const tq = newQueue({ storage, shutdownGraceMs: 1_000, stuckGraceMs: 1_000 });
    let running = false;
    tq.queue.defineHandler("t", {
      run: (_p, ctx) => {
        running = true;
        ctx.log("info", "working");
        return new Promise(() => undefined); // ignores its signal
      },
    });
    const events = recordEvents(tq.queue, ["job:interrupted", "queue:closed"]);
    await tq.queue.start();
    const job = await tq.queue.enqueue("t", {});
    await runUntil(tq.clock, () => running && logWrites > 0);
    const closing = tq.queue.shutdown();
    const statusAtClose = closing.then(async () => (await shared.getJob(job.id))?.status);
    await tq.clock.advance(3_000); // grace and abort grace have passed: the scheduler has stopped
    logGate.resolve();
    await drive(tq.clock, closing);
    expect(await statusAtClose).toBe("pending");
    expect(events.map((e) => e.name)).toEqual(["job:interrupted", "queue:closed"]);
  });
});
