import { afterEach, describe, expect, it } from "vitest";
import type { JobContext } from "../../src/handler.js";
import { closeAll, deferred, newQueue, untilStatus } from "./support.js";

afterEach(closeAll);

describe("the handler's ctx", () => {
  it("keeps signal and tx through a spread copy, Object.create and a Proxy, and log works unbound", async () => {
    const tq = newQueue();
    const seen = deferred<{ spread: JobContext; derived: JobContext; proxied: JobContext; ctx: JobContext }>();
    const release = deferred();
    tq.queue.defineHandler("t", {
      run: async (_payload, ctx) => {
        const { log } = ctx;
        log("info", "unbound");
        const spread = { ...ctx, log: (...args: Parameters<JobContext["log"]>) => ctx.log(...args) };
        seen.resolve({ spread, derived: Object.create(ctx) as JobContext, proxied: new Proxy(ctx, {}), ctx });
        await release.promise;
      },
    });
    const job = await tq.queue.enqueue("t", {});
    await tq.queue.start();
    await untilStatus(tq, job.id, "running");
    const { spread, derived, proxied, ctx } = await seen.promise;
    expect(spread.signal).toBeInstanceOf(AbortSignal);
    expect(Object.keys(spread)).toEqual(expect.arrayContaining(["job", "attempt", "dependencies", "signal", "tx", "log"]));
    // What a handler sees of ctx itself: these members, in this order, and nothing else enumerable.
    expect(Object.keys(ctx)).toEqual(["job", "attempt", "dependencies", "signal", "tx", "log"]);
    expect(Object.keys(JSON.parse(JSON.stringify({ ...ctx, job: undefined, signal: undefined })) as object)).toEqual(["attempt", "dependencies"]);
    expect(derived.signal).toBe(ctx.signal);
    expect(proxied.signal).toBe(ctx.signal);
    // A view whose trap wraps every object it hands out (a deep-readonly or tracking proxy), and the
    // getters copied to another object by name: each still reaches this attempt.
    const wrapping = new Proxy(ctx, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver) as unknown;
        return typeof value === "object" && value !== null ? new Proxy(value, {}) : value;
      },
    });
    expect(wrapping.signal.aborted).toBe(false);
    expect(() => wrapping.tx).not.toThrow();
    const view = {} as JobContext;
    for (const key of Object.getOwnPropertyNames(ctx)) Object.defineProperty(view, key, Object.getOwnPropertyDescriptor(ctx, key)!);
    expect(view.signal).toBe(ctx.signal);
    expect(Reflect.ownKeys(ctx)).toEqual(["job", "attempt", "dependencies", "signal", "tx", "log"]);
    expect(derived.tx).toBe(ctx.tx);
    expect(spread.signal).toBe(ctx.signal);
    await tq.queue.cancel(job.id);
    expect(spread.signal.aborted).toBe(true);
    release.resolve();
    await untilStatus(tq, job.id, "cancelled");
    expect((await tq.queue.getJobLogs(job.id)).map((entry) => entry.message)).toContain("unbound");
  });
});
