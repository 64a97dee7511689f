import { afterEach, describe, expect, it } from "vitest";
import { PermanentError, ValidationError } from "../../src/errors.js";
import { Queue } from "../../src/queue.js";
import type { Storage } from "../../src/storage/storage.js";
import { closeAll, newQueue, runUntil, untilEvent, untilStatus, wrapStorage } from "./support.js";

afterEach(closeAll);

const MINUTE = 60_000;
const retention = { completedMs: MINUTE, failedMs: 10 * MINUTE, cancelledMs: 10 * MINUTE, intervalMs: 1_000 };

describe("retention", () => {
  it("deletes a completed job after completedMs and keeps a failed one until failedMs", async () => {
    const tq = newQueue({ retention });
    tq.queue.defineHandler("ok", { run: () => "done" });
    tq.queue.defineHandler("bad", { run: () => { throw new PermanentError("no"); } });
    await tq.queue.start();
    const ok = await tq.queue.enqueue("ok", {});
    const bad = await tq.queue.enqueue("bad", {});
    await untilStatus(tq, ok.id, "completed");
    await untilStatus(tq, bad.id, "failed");

    await tq.clock.advance(retention.completedMs + retention.intervalMs);
    await runUntil(tq.clock, async () => (await tq.queue.getJob(ok.id)) === undefined, { stepMs: 100, maxMs: 2 * retention.intervalMs });
    expect(await tq.queue.getJobLogs(ok.id).catch(() => [])).toEqual([]);
    expect((await tq.queue.getJob(bad.id))?.status).toBe("failed");

    await tq.clock.advance(retention.failedMs - retention.completedMs);
    await runUntil(tq.clock, async () => (await tq.queue.getJob(bad.id)) === undefined, { stepMs: 100, maxMs: 2 * retention.intervalMs });
  });

  it("prunes only in started queues, and never with retention: false", async () => {
    const calls = { disabled: 0, idle: 0 };
    const counting = (name: keyof typeof calls): Partial<Storage> => ({
      deleteFinishedJobs: async () => {
        calls[name] += 1;
        return 0;
      },
    });
    const disabled = newQueue({ retention: false });
    const wrapped = newQueue({ storage: wrapStorage(disabled.storage, counting("disabled")), clock: disabled.clock, retention: false });
    await wrapped.queue.start();
    newQueue({ storage: wrapStorage(disabled.storage, counting("idle")), clock: disabled.clock, retention });
    await disabled.clock.advance(10 * retention.intervalMs);
    expect(calls).toEqual({ disabled: 0, idle: 0 });
  });

  it("reports a failed pass as queue:error with context retention and tries again", async () => {
    let calls = 0;
    const tq = newQueue({ retention });
    const failing = wrapStorage(tq.storage, {
      deleteFinishedJobs: async () => {
        calls += 1;
        throw new Error("disk on fire");
      },
    });
    const other = newQueue({ storage: failing, clock: tq.clock, retention });
    await other.queue.start();
    const { context } = await untilEvent(other, "queue:error", undefined, { stepMs: 100, maxMs: 5_000 });
    expect(context).toBe("retention");
    await tq.clock.advance(2 * retention.intervalMs);
    expect(calls).toBeGreaterThan(1);
  });

  it("validates the option", () => {
    expect(() => new Queue({ retention: { completedMs: -1 } })).toThrow(ValidationError);
    expect(() => new Queue({ retention: { intervalMs: 1.5 } })).toThrow(ValidationError);
    expect(() => new Queue({ retention: true as unknown as false })).toThrow(ValidationError);
  });
});
