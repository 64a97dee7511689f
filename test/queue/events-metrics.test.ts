import { afterEach, describe, expect, it } from "vitest";
import type { QueueEvents } from "../../src/events.js";
import { closeAll, deferred, newQueue, recordEvents, runUntil, untilStatus } from "./support.js";

afterEach(closeAll);

describe("events", () => {
  it("emits enqueued, started and completed with their payloads", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("t", {
      run: async () => {
        await new Promise<void>((resolve) => tq.clock.setTimer(resolve, 250));
        return { total: 3 };
      },
    });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:enqueued", "job:started", "job:completed"]);
    const job = await tq.queue.enqueue("t", { x: 1 });
    await untilStatus(tq, job.id, "completed");
    expect(events.map((e) => e.name)).toEqual(["job:enqueued", "job:started", "job:completed"]);
    expect(events[0]?.payload).toMatchObject({ job: { id: job.id, status: "pending" } });
    expect(events[1]?.payload).toMatchObject({ job: { id: job.id, status: "running" }, attempt: 1 });
    const completed = events[2]?.payload as QueueEvents["job:completed"];
    expect(completed.job).toMatchObject({ id: job.id, status: "completed" });
    expect(completed.result).toEqual({ total: 3 });
    expect(completed.runTimeMs).toBeGreaterThanOrEqual(250);
  });

  it("emits one job:enqueued per inserted job, none for a returned existing one", async () => {
    const { queue } = newQueue();
    const events = recordEvents(queue, ["job:enqueued"]);
    await queue.enqueue("t", {}, { idempotencyKey: "k" });
    await queue.enqueue("t", {}, { idempotencyKey: "k", onDuplicate: "return-existing" });
    await queue.enqueueMany([{ key: "a", type: "t" }, { key: "b", type: "t", dependsOn: ["a"] }]);
    expect(events).toHaveLength(3);
  });

  it("keeps working when a listener throws, and reports it as queue:error", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("t", { run: () => "ok" });
    const errors: QueueEvents["queue:error"][] = [];
    const completedSeen: string[] = [];
    tq.queue.on("queue:error", (e) => errors.push(e));
    tq.queue.on("job:started", () => { throw new Error("listener bug"); });
    tq.queue.on("job:completed", () => { throw new Error("another listener bug"); });
    tq.queue.on("job:completed", ({ job }) => completedSeen.push(job.id));
    tq.queue.on("queue:error", () => { throw new Error("even the error listener throws"); });
    await tq.queue.start();
    const first = await tq.queue.enqueue("t", {});
    const second = await tq.queue.enqueue("t", {});
    await untilStatus(tq, first.id, "completed");
    await untilStatus(tq, second.id, "completed");
    expect(completedSeen).toEqual([first.id, second.id]);
    expect(errors.filter((e) => e.context.includes("job:started"))).toHaveLength(2);
    expect(errors.filter((e) => e.context.includes("job:completed"))).toHaveLength(2);
    expect((errors[0]?.error as Error).message).toBe("listener bug");
  });

  it("stops calling a listener removed with off, and calls a once listener once", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("t", { run: () => null });
    let on = 0;
    let once = 0;
    const listener = () => { on++; };
    tq.queue.on("job:completed", listener);
    tq.queue.once("job:completed", () => { once++; });
    await tq.queue.start();
    await untilStatus(tq, (await tq.queue.enqueue("t", {})).id, "completed");
    tq.queue.off("job:completed", listener);
    await untilStatus(tq, (await tq.queue.enqueue("t", {})).id, "completed");
    expect(on).toBe(1);
    expect(once).toBe(1);
  });
});

describe("metrics", () => {
  it("has the documented shape on an idle queue", async () => {
    const { queue } = newQueue({ capacity: { cpu: 2 }, concurrency: 7 });
    const zero = { count: 0, p50: 0, p95: 0, p99: 0 };
    expect(await queue.metrics()).toEqual({
      jobs: {
        byStatus: { blocked: 0, pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 },
        pendingByPriority: { critical: 0, high: 0, normal: 0, low: 0 },
      },
      waitTimeMs: zero,
      runTimeMs: zero,
      failureRate: 0,
      throughputPerSecond: 0,
      windowMs: expect.any(Number),
      running: 0,
      concurrency: 7,
      resources: { capacity: { cpu: 2 }, inUse: { cpu: 0 } },
      unschedulable: 0,
      stuck: 0,
    });
  });

  it("counts jobs by status and pending jobs by priority", async () => {
    const tq = newQueue();
    const gate = deferred();
    tq.queue.defineHandler("hold", { run: () => gate.promise });
    tq.queue.defineHandler("fail", { retry: { maxAttempts: 1 }, run: () => { throw new Error("no"); } });
    tq.queue.defineHandler("ok", { run: () => null });
    await tq.queue.enqueue("nobody", {}, { priority: "high" });
    await tq.queue.enqueue("nobody", {}, { priority: "low" });
    await tq.queue.enqueue("nobody", {}, { priority: "low" });
    const held = await tq.queue.enqueue("hold", {});
    const failed = await tq.queue.enqueue("fail", {});
    const ok = await tq.queue.enqueue("ok", {});
    await tq.queue.enqueueMany([{ key: "x", type: "nobody", dependsOn: [held.id] }]);
    const cancelled = await tq.queue.enqueue("nobody", {}, { priority: "critical" });
    await tq.queue.cancel(cancelled.id);
    await tq.queue.start();
    await untilStatus(tq, held.id, "running");
    await untilStatus(tq, failed.id, "failed");
    await untilStatus(tq, ok.id, "completed");
    const metrics = await tq.queue.metrics();
    expect(metrics.jobs.byStatus).toEqual({ blocked: 1, pending: 3, running: 1, completed: 1, failed: 1, cancelled: 1 });
    expect(metrics.jobs.pendingByPriority).toEqual({ critical: 0, high: 1, normal: 0, low: 2 });
    expect(metrics.running).toBe(1);
    expect(metrics.failureRate).toBeCloseTo(0.5);
    gate.resolve();
  });

  it("reports wait and run percentiles from the queue's clock", async () => {
    const tq = newQueue({ concurrency: 1 });
    const runMs = [100, 200, 300, 400];
    tq.queue.defineHandler("t", {
      run: (payload) => new Promise<void>((resolve) => tq.clock.setTimer(resolve, (payload as { ms: number }).ms)),
    });
    const jobs = [];
    for (const ms of runMs) jobs.push(await tq.queue.enqueue("t", { ms }));
    await tq.clock.advance(500);
    await tq.queue.start();
    for (const job of jobs) await untilStatus(tq, job.id, "completed", { stepMs: 5 });
    const metrics = await tq.queue.metrics();
    expect(metrics.runTimeMs.count).toBe(4);
    expect(metrics.runTimeMs.p50).toBeGreaterThanOrEqual(200);
    expect(metrics.runTimeMs.p99).toBeGreaterThanOrEqual(400);
    expect(metrics.runTimeMs.p99).toBeLessThan(500);
    expect(metrics.waitTimeMs.count).toBe(4);
    expect(metrics.waitTimeMs.p50).toBeGreaterThanOrEqual(500);
    // The last job waited for the three before it on a single slot.
    expect(metrics.waitTimeMs.p99).toBeGreaterThanOrEqual(500 + 100 + 200 + 300);
    expect(metrics.throughputPerSecond).toBeGreaterThan(0);
    expect(metrics.failureRate).toBe(0);
  });

  it("shows resources in use during a run and free after", async () => {
    const tq = newQueue({ capacity: { cpu: 4, memoryMb: 1_024 } });
    const gate = deferred();
    tq.queue.defineHandler("t", { resources: { cpu: 3, memoryMb: 512 }, run: () => gate.promise });
    await tq.queue.start();
    const idle = await tq.queue.metrics();
    expect(idle.resources).toEqual({ capacity: { cpu: 4, memoryMb: 1_024 }, inUse: { cpu: 0, memoryMb: 0 } });
    const job = await tq.queue.enqueue("t", {});
    await untilStatus(tq, job.id, "running");
    expect((await tq.queue.metrics()).resources.inUse).toEqual({ cpu: 3, memoryMb: 512 });
    gate.resolve();
    await untilStatus(tq, job.id, "completed");
    await runUntil(tq.clock, async () => (await tq.queue.metrics()).running === 0);
    expect((await tq.queue.metrics()).resources.inUse).toEqual({ cpu: 0, memoryMb: 0 });
  });
});
