import { afterEach, describe, expect, it } from "vitest";
import { closeAll, deferred, newQueue, recordEvents, runUntil, untilStatus } from "./support.js";

afterEach(closeAll);

describe("timeouts", () => {
  it("aborts ctx.signal at timeoutMs and fails the attempt with JOB_TIMEOUT", async () => {
    const tq = newQueue();
    let abortedAt: number | undefined;
    let reason: unknown;
    tq.queue.defineHandler("slow", {
      timeoutMs: 1_000,
      retry: { maxAttempts: 1 },
      run: (_p, ctx) =>
        new Promise<void>((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => {
            abortedAt = tq.clock.now();
            reason = ctx.signal.reason;
            reject(ctx.signal.reason);
          });
        }),
    });
    await tq.queue.start();
    const job = await tq.queue.enqueue("slow", {});
    const running = await untilStatus(tq, job.id, "running", { stepMs: 1 });
    const started = running.startedAt?.getTime() ?? 0;
    await tq.clock.advance(999 - (tq.clock.now() - started));
    expect(abortedAt).toBeUndefined();
    const failed = await untilStatus(tq, job.id, "failed", { stepMs: 1 });
    expect(abortedAt).toBe(started + 1_000);
    expect(reason).toMatchObject({ code: "JOB_TIMEOUT" });
    expect(failed.error).toMatchObject({ name: "JobTimeoutError", code: "JOB_TIMEOUT" });
    expect(failed.attempt).toBe(1);
  });

  it("retries a timed-out attempt while attempts remain", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("slow-once", {
      timeoutMs: 500,
      retry: { maxAttempts: 2, backoff: { type: "fixed", baseMs: 10, jitter: false } },
      run: (_p, ctx) =>
        ctx.attempt === 1
          ? new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)))
          : "second",
    });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:retrying"]);
    const job = await tq.queue.enqueue("slow-once", {});
    const done = await untilStatus(tq, job.id, "completed");
    expect(done.attempt).toBe(2);
    expect(events[0]?.payload).toMatchObject({ error: { code: "JOB_TIMEOUT" } });
  });

  it("keeps a handler's resources reserved until it really returns, even after its timeout", async () => {
    const tq = newQueue({ capacity: { cpu: 1 }, stuckGraceMs: 2_000 });
    const stubborn = deferred();
    let secondStarted = false;
    tq.queue.defineHandler("stubborn", { timeoutMs: 1_000, retry: { maxAttempts: 1 }, resources: { cpu: 1 }, run: () => stubborn.promise });
    tq.queue.defineHandler("next", { resources: { cpu: 1 }, run: () => { secondStarted = true; } });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:stuck", "job:failed"]);
    const first = await tq.queue.enqueue("stubborn", {});
    await untilStatus(tq, first.id, "running");
    const second = await tq.queue.enqueue("next", {});
    const failed = await untilStatus(tq, first.id, "failed");
    expect(failed.error?.code).toBe("JOB_TIMEOUT");
    await tq.clock.advance(10_000);
    expect(secondStarted).toBe(false);
    expect((await tq.queue.getJob(second.id))?.status).toBe("pending");
    expect((await tq.queue.metrics()).resources.inUse).toEqual({ cpu: 1 });
    stubborn.resolve();
    await untilStatus(tq, second.id, "completed");
    // The late return of the timed-out attempt changes nothing.
    expect((await tq.queue.getJob(first.id))?.status).toBe("failed");
    expect(events.filter((e) => e.name === "job:failed")).toHaveLength(1);
  });

  it("emits job:stuck stuckGraceMs after the abort if the handler has not returned", async () => {
    const tq = newQueue({ stuckGraceMs: 2_000 });
    const stubborn = deferred();
    tq.queue.defineHandler("stubborn", { timeoutMs: 1_000, retry: { maxAttempts: 1 }, run: () => stubborn.promise });
    await tq.queue.start();
    const stuck = recordEvents(tq.queue, ["job:stuck"]);
    const job = await tq.queue.enqueue("stubborn", {});
    const running = await untilStatus(tq, job.id, "running", { stepMs: 1 });
    const started = running.startedAt?.getTime() ?? 0;
    await runUntil(tq.clock, () => tq.clock.now() >= started + 1_000 + 1_990, { stepMs: 10 });
    expect(stuck).toHaveLength(0);
    await runUntil(tq.clock, () => stuck.length === 1, { stepMs: 10, maxMs: 100 });
    expect(stuck[0]?.payload).toMatchObject({ job: { id: job.id }, attempt: 1 });
    expect((stuck[0]?.payload as { runningForMs: number }).runningForMs).toBeGreaterThanOrEqual(3_000);
    expect((await tq.queue.metrics()).stuck).toBe(1);
    expect(tq.queue.metricsSinceStart().byType.stubborn?.stuck).toBe(1);
    stubborn.resolve();
  });

  it("does not report a handler that returns within the grace as stuck", async () => {
    const tq = newQueue({ stuckGraceMs: 2_000 });
    tq.queue.defineHandler("polite", {
      timeoutMs: 1_000,
      retry: { maxAttempts: 1 },
      run: (_p, ctx) => new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => tq.clock.setTimer(resolve, 500))),
    });
    await tq.queue.start();
    const stuck = recordEvents(tq.queue, ["job:stuck"]);
    const job = await tq.queue.enqueue("polite", {});
    await untilStatus(tq, job.id, "failed");
    await tq.clock.advance(10_000);
    expect(stuck).toHaveLength(0);
    expect((await tq.queue.metrics()).stuck).toBe(0);
  });
});
