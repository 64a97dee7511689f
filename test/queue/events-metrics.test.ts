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

  it("counts outcomes and histograms wait and run times in seconds since start, by job type", async () => {
    const tq = newQueue({ concurrency: 1 });
    tq.queue.defineHandler("t", { run: (payload) => new Promise<void>((resolve) => tq.clock.setTimer(resolve, (payload as { ms: number }).ms)) });
    tq.queue.defineHandler("flaky", {
      retry: { maxAttempts: 2, backoff: { type: "fixed", baseMs: 100, jitter: false } },
      run: (_payload, ctx) => {
        if (ctx.attempt === 1) throw new Error("once");
        return null;
      },
    });
    tq.queue.defineHandler("bad", { retry: { maxAttempts: 1 }, run: () => Promise.reject(new Error("no")) });
    tq.queue.defineHandler("idle", { run: () => null });
    const jobs = [await tq.queue.enqueue("t", { ms: 200 }), await tq.queue.enqueue("t", { ms: 3_000 })];
    await tq.clock.advance(40);
    await tq.queue.start();
    for (const job of jobs) await untilStatus(tq, job.id, "completed", { stepMs: 5 });
    const flaky = await tq.queue.enqueue("flaky", {});
    await untilStatus(tq, flaky.id, "completed", { stepMs: 5 });
    const bad = await tq.queue.enqueue("bad", {});
    await untilStatus(tq, bad.id, "failed", { stepMs: 5 });
    // Counts follow the stored outcome: wait for them rather than for the status.
    await runUntil(tq.clock, () => {
      const { byType } = tq.queue.metricsSinceStart();
      return byType.t?.completed === 2 && byType.flaky?.completed === 1 && byType.bad?.failed === 1;
    });

    const { bucketsSeconds, byType } = tq.queue.metricsSinceStart();
    expect(bucketsSeconds).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]);
    const bucket = (le: number) => bucketsSeconds.indexOf(le);
    const t = byType.t;
    expect(t).toMatchObject({ completed: 2, failed: 0, retried: 0, stuck: 0 });
    // Run times of 0.2 s and 3 s: one at or below 0.25, both at or below 5.
    expect(t?.runSeconds.count).toBe(2);
    expect(t?.runSeconds.sum).toBeCloseTo(3.2, 6);
    expect(t?.runSeconds.buckets[bucket(0.1)]).toBe(0);
    expect(t?.runSeconds.buckets[bucket(0.25)]).toBe(1);
    expect(t?.runSeconds.buckets[bucket(2.5)]).toBe(1);
    expect(t?.runSeconds.buckets[bucket(5)]).toBe(2);
    // Both waited at least the 40 ms before start; the second also waited for the first's 0.2 s on one slot.
    expect(t?.waitSeconds.count).toBe(2);
    expect(t?.waitSeconds.buckets[bucket(0.025)]).toBe(0);
    expect(t?.waitSeconds.buckets[bucket(0.1)]).toBeLessThanOrEqual(1);
    expect(t?.waitSeconds.sum).toBeGreaterThanOrEqual(0.04 + 0.24);
    expect(byType.flaky).toMatchObject({ completed: 1, failed: 0, retried: 1 });
    expect(byType.flaky?.runSeconds.count).toBe(2);
    expect(byType.flaky?.waitSeconds.count).toBe(2);
    expect(byType.bad).toMatchObject({ completed: 0, failed: 1, retried: 0 });
    // A registered type shows up with zeros before its first job, so its rate starts from 0.
    const zeros = { buckets: bucketsSeconds.map(() => 0), sum: 0, count: 0 };
    expect(byType.idle).toEqual({ completed: 0, failed: 0, retried: 0, stuck: 0, waitSeconds: zeros, runSeconds: zeros });
    for (const totals of Object.values(byType)) {
      for (const histogram of [totals.waitSeconds, totals.runSeconds]) {
        expect(histogram.buckets).toEqual([...histogram.buckets].sort((a, b) => a - b));
        expect(histogram.buckets.at(-1)).toBeLessThanOrEqual(histogram.count);
      }
    }
    // The window's JSON is unchanged by it.
    expect((await tq.queue.metrics()).runTimeMs.count).toBe(5);
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
