import { afterEach, describe, expect, it } from "vitest";
import { PermanentError } from "../../src/errors.js";
import { closeAll, newQueue, recordEvents, runUntil, untilEvent, untilStatus } from "./support.js";

afterEach(closeAll);

const fixed = (baseMs: number) => ({ type: "fixed" as const, baseMs, maxMs: baseMs, jitter: false });

describe("retries", () => {
  it("retries a handler that fails once, then completes on attempt 2", async () => {
    const tq = newQueue();
    const attempts: number[] = [];
    tq.queue.defineHandler("flaky", {
      retry: { maxAttempts: 3, backoff: fixed(100) },
      run: (_p, ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt === 1) throw new Error("first try fails");
        return "ok";
      },
    });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:retrying", "job:completed", "job:failed"]);
    const job = await tq.queue.enqueue("flaky", {});
    const done = await untilStatus(tq, job.id, "completed");
    expect(done.attempt).toBe(2);
    expect(done.result).toBe("ok");
    expect(attempts).toEqual([1, 2]);
    expect(events.map((e) => e.name)).toEqual(["job:retrying", "job:completed"]);
    expect(events[0]?.payload).toMatchObject({ attempt: 1, error: { message: "first try fails" } });
  });

  it("does not run the retry before its backoff's runAt", async () => {
    const tq = newQueue();
    const startedAt: number[] = [];
    tq.queue.defineHandler("flaky", {
      retry: { maxAttempts: 2, backoff: fixed(10_000) },
      run: (_p, ctx) => {
        startedAt.push(tq.clock.now());
        if (ctx.attempt === 1) throw new Error("again later");
      },
    });
    await tq.queue.start();
    const job = await tq.queue.enqueue("flaky", {});
    const retrying = await untilEvent(tq, "job:retrying", undefined, { stepMs: 1 });
    expect(retrying.runAt.getTime() - (startedAt[0] ?? 0)).toBe(10_000);
    await tq.clock.advance(5_000);
    const waiting = await tq.queue.getJob(job.id);
    expect(waiting?.status).toBe("pending");
    expect(waiting?.attempt).toBe(1);
    expect(waiting?.runAt.getTime()).toBe(retrying.runAt.getTime());
    expect(startedAt).toHaveLength(1);
    await tq.clock.advance(5_100);
    await untilStatus(tq, job.id, "completed");
    expect(startedAt).toHaveLength(2);
    expect(startedAt[1]).toBeGreaterThanOrEqual(retrying.runAt.getTime());
  });

  it("fails with the last error once maxAttempts are used up", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("broken", {
      retry: { maxAttempts: 3, backoff: fixed(10) },
      run: (_p, ctx) => {
        throw Object.assign(new Error(`failure #${ctx.attempt}`), { code: "E_BROKEN" });
      },
    });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:retrying", "job:failed"]);
    const job = await tq.queue.enqueue("broken", {});
    const failed = await untilStatus(tq, job.id, "failed");
    expect(failed.attempt).toBe(3);
    expect(failed.error).toEqual({ name: "Error", message: "failure #3", code: "E_BROKEN" });
    expect(events.map((e) => e.name)).toEqual(["job:retrying", "job:retrying", "job:failed"]);
  });

  it("lets enqueue options override the handler's maxAttempts", async () => {
    const tq = newQueue();
    let runs = 0;
    tq.queue.defineHandler("broken", { retry: { maxAttempts: 5, backoff: fixed(10) }, run: () => { runs++; throw new Error("no"); } });
    await tq.queue.start();
    const job = await tq.queue.enqueue("broken", {}, { maxAttempts: 2 });
    expect((await untilStatus(tq, job.id, "failed")).attempt).toBe(2);
    expect(runs).toBe(2);
  });

  it("fails after one attempt on a PermanentError", async () => {
    const tq = newQueue();
    let runs = 0;
    tq.queue.defineHandler("card.charge", {
      retry: { maxAttempts: 5, backoff: fixed(10) },
      run: () => {
        runs++;
        throw new PermanentError("card declined", { code: "DECLINED" });
      },
    });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:retrying", "job:failed"]);
    const job = await tq.queue.enqueue("card.charge", {});
    const failed = await untilStatus(tq, job.id, "failed");
    await tq.clock.advance(1_000);
    expect(runs).toBe(1);
    expect(failed.attempt).toBe(1);
    expect(failed.error).toMatchObject({ name: "PermanentError", message: "card declined", code: "DECLINED" });
    expect(events.map((e) => e.name)).toEqual(["job:failed"]);
  });

  it("waits for a delayed job's runAt before running it", async () => {
    const tq = newQueue();
    let runs = 0;
    tq.queue.defineHandler("later", { run: () => { runs++; } });
    await tq.queue.start();
    const job = await tq.queue.enqueue("later", {}, { delayMs: 2_000 });
    await tq.clock.advance(1_900);
    expect(runs).toBe(0);
    await runUntil(tq.clock, () => runs === 1, { maxMs: 1_000 });
    await untilStatus(tq, job.id, "completed");
  });
});
