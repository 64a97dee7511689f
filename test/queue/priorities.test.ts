import { afterEach, describe, expect, it } from "vitest";
import type { Priority } from "../../src/types.js";
import { closeAll, newQueue, runUntil } from "./support.js";

afterEach(closeAll);

describe("priorities", () => {
  it("with concurrency 1 runs critical, high, normal, low, FIFO within a level", async () => {
    const tq = newQueue({ concurrency: 1 });
    const order: string[] = [];
    tq.queue.defineHandler("t", { run: (payload) => { order.push((payload as { name: string }).name); } });
    const submitted: [string, Priority][] = [
      ["low-1", "low"], ["normal-1", "normal"], ["critical-1", "critical"], ["high-1", "high"],
      ["low-2", "low"], ["high-2", "high"], ["normal-2", "normal"], ["critical-2", "critical"],
    ];
    for (const [name, priority] of submitted) {
      await tq.queue.enqueue("t", { name }, { priority });
      await tq.clock.advance(1); // distinct runAt, so FIFO is by submission time
    }
    await tq.queue.start();
    await runUntil(tq.clock, () => order.length === submitted.length);
    expect(order).toEqual(["critical-1", "critical-2", "high-1", "high-2", "normal-1", "normal-2", "low-1", "low-2"]);
  });

  it("keeps FIFO within a level for jobs enqueued at the same instant", async () => {
    const tq = newQueue({ concurrency: 1 });
    const order: number[] = [];
    tq.queue.defineHandler("t", { run: (payload) => { order.push((payload as { n: number }).n); } });
    for (let n = 0; n < 6; n++) await tq.queue.enqueue("t", { n });
    await tq.queue.start();
    await runUntil(tq.clock, () => order.length === 6);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("takes the handler's priority unless the job names its own", async () => {
    const { queue } = newQueue();
    queue.defineHandler("urgent", { priority: "high", run: () => null });
    expect((await queue.enqueue("urgent", {})).priority).toBe("high");
    expect((await queue.enqueue("urgent", {}, { priority: "low" })).priority).toBe("low");
  });

  it.each([
    { waitedMs: 61_000, expected: ["low-old", "normal-1", "normal-2"] },
    { waitedMs: 30_000, expected: ["normal-1", "normal-2", "low-old"] },
  ])("starvation guard: a low job that waited $waitedMs ms (starvationMs 60 s) -> $expected", async ({ waitedMs, expected }) => {
    const tq = newQueue({ concurrency: 1, starvationMs: 60_000 });
    const order: string[] = [];
    tq.queue.defineHandler("t", { run: (payload) => { order.push((payload as { name: string }).name); } });
    await tq.queue.enqueue("t", { name: "low-old" }, { priority: "low" });
    await tq.clock.advance(waitedMs);
    await tq.queue.enqueue("t", { name: "normal-1" });
    await tq.queue.enqueue("t", { name: "normal-2" });
    await tq.queue.start();
    await runUntil(tq.clock, () => order.length === 3);
    expect(order).toEqual(expected);
  });
});
