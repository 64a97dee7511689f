import { afterEach, describe, expect, it } from "vitest";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { JobId } from "../../src/types.js";
import { closeAll, Concurrency, deferred, drive, newQueue, recordEvents, runUntil, untilStatus, wrapStorage } from "./support.js";

afterEach(closeAll);

/** How many of `ids` the store holds with `status`. */
async function countStatus(storage: MemoryStorage, ids: readonly JobId[], status: string): Promise<number> {
  const jobs = await Promise.all(ids.map((id) => storage.getJob(id)));
  return jobs.filter((job) => job?.status === status).length;
}

/**
 * Defines handler "t" on `queue`: each run records its payload's `name` and counts as running, and a
 * run whose name `holds` (every run by default) waits until `gate` opens.
 */
function gatedHandler(queue: ReturnType<typeof newQueue>["queue"], holds: (name: string) => boolean = () => true) {
  const gate = deferred();
  const ran: string[] = [];
  const running = new Concurrency();
  queue.defineHandler("t", {
    run: async (payload) => {
      const name = (payload as { name?: string } | null)?.name ?? "";
      ran.push(name);
      running.enter();
      try {
        if (holds(name)) await gate.promise;
      } finally {
        running.leave();
      }
    },
  });
  return { gate, ran, running };
}

/**
 * Runs `count` jobs of type "t", each until released, releasing them one at a time in the order they
 * started; answers the `limit` of every claim the worker made meanwhile.
 */
async function claimLimitsReleasingOneByOne(options: { concurrency: number; prefetch: number }, count: number): Promise<number[]> {
  const shared = new MemoryStorage();
  const limits: number[] = [];
  const storage = wrapStorage(shared, {
    claimJobs: async (request) => {
      limits.push(request.limit);
      return shared.claimJobs(request);
    },
  });
  const tq = newQueue({ ...options, storage });
  const gates: ReturnType<typeof deferred<void>>[] = [];
  tq.queue.defineHandler("t", {
    run: async () => {
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
    },
  });
  const ids = (await tq.queue.enqueueMany(Array.from({ length: count }, (_, i) => ({ key: `j${i}`, type: "t" })))).map((job) => job.id);
  await tq.queue.start();
  for (let released = 0; released < count; released++) {
    await runUntil(tq.clock, () => gates.length > released);
    gates[released]!.resolve();
  }
  await runUntil(tq.clock, async () => (await countStatus(shared, ids, "completed")) === count);
  return limits;
}

describe("prefetch", () => {
  it("claims up to concurrency + prefetch jobs but runs only `concurrency` handlers at once", async () => {
    const shared = new MemoryStorage();
    const tq = newQueue({ concurrency: 2, prefetch: 3, storage: wrapStorage(shared) });
    const { gate, running } = gatedHandler(tq.queue);
    const ids = (await tq.queue.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ key: `j${i}`, type: "t" })))).map((job) => job.id);
    await tq.queue.start();
    await runUntil(tq.clock, async () => (await countStatus(shared, ids, "running")) === 5);
    await tq.clock.advance(1_000);
    expect(await countStatus(shared, ids, "running")).toBe(5);
    expect(running.current).toBe(2);
    gate.resolve();
    await runUntil(tq.clock, async () => (await countStatus(shared, ids, "completed")) === 10);
    expect(running.peak).toBe(2);
  });

  it("starts waiting jobs by priority level, first come first served within one", async () => {
    const tq = newQueue({ concurrency: 1, prefetch: 10 });
    const { gate, ran: order } = gatedHandler(tq.queue, (name) => name === "first");
    await tq.queue.start();
    const first = await tq.queue.enqueue("t", { name: "first" });
    await untilStatus(tq, first.id, "running");
    // Claimed in two rounds while the only slot is busy: the later claim brings the more urgent job.
    const early = await tq.queue.enqueueMany([
      { key: "a", type: "t", payload: { name: "low-1" }, priority: "low" },
      { key: "b", type: "t", payload: { name: "normal-1" } },
    ]);
    await runUntil(tq.clock, async () => (await Promise.all(early.map((job) => tq.queue.getJob(job.id)))).every((job) => job?.status === "running"));
    const late = await tq.queue.enqueueMany([
      { key: "c", type: "t", payload: { name: "critical" }, priority: "critical" },
      { key: "d", type: "t", payload: { name: "normal-2" } },
    ]);
    await runUntil(tq.clock, async () => (await Promise.all(late.map((job) => tq.queue.getJob(job.id)))).every((job) => job?.status === "running"));
    gate.resolve();
    await runUntil(tq.clock, () => order.length === 5);
    expect(order).toEqual(["first", "critical", "normal-1", "normal-2", "low-1"]);
  });

  it("orders waiting jobs by effective priority: a low job past the starvation guard starts before normal ones", async () => {
    const tq = newQueue({ concurrency: 1, prefetch: 10, starvationMs: 1_000 });
    const { gate, ran } = gatedHandler(tq.queue, (name) => name === "first");
    await tq.queue.start();
    const first = await tq.queue.enqueue("t", { name: "first" });
    await untilStatus(tq, first.id, "running");
    // Due 2.5 s ago: two levels more urgent than `low` by the time it is claimed.
    const waited = await tq.queue.enqueue("t", { name: "low, waited" }, { priority: "low", runAt: new Date(tq.clock.now() - 2_500) });
    await untilStatus(tq, waited.id, "running");
    const normal = await tq.queue.enqueue("t", { name: "normal" });
    await untilStatus(tq, normal.id, "running");
    gate.resolve();
    await runUntil(tq.clock, () => ran.length === 3);
    expect(ran).toEqual(["first", "low, waited", "normal"]);
  });

  it("keeps the leases of waiting jobs alive with the heartbeat", async () => {
    const shared = new MemoryStorage();
    const renewed = new Set<JobId>();
    const storage = wrapStorage(shared, {
      heartbeat: async (leases, leaseMs, now) => {
        for (const lease of leases) renewed.add(lease.jobId);
        return shared.heartbeat(leases, leaseMs, now);
      },
    });
    const tq = newQueue({ concurrency: 1, prefetch: 1, leaseMs: 1_000, storage });
    const { gate, ran } = gatedHandler(tq.queue);
    const [a, b] = await tq.queue.enqueueMany([{ key: "a", type: "t" }, { key: "b", type: "t" }]);
    await tq.queue.start();
    await runUntil(tq.clock, async () => (await countStatus(shared, [a!.id, b!.id], "running")) === 2);
    // Five leases long: without renewals the rescuer would have taken the waiting job back.
    await tq.clock.advance(5_000);
    expect(renewed.has(b!.id)).toBe(true);
    expect(ran).toHaveLength(1);
    expect(await shared.getJob(b!.id)).toMatchObject({ status: "running", attempt: 1 });
    gate.resolve();
    expect(await untilStatus(tq, b!.id, "completed")).toMatchObject({ attempt: 1 });
    expect(ran).toHaveLength(2);
  });

  it("cancels a waiting job without ever running its handler", async () => {
    const tq = newQueue({ concurrency: 1, prefetch: 1 });
    const { gate, ran } = gatedHandler(tq.queue);
    const [a, b] = await tq.queue.enqueueMany([
      { key: "a", type: "t", payload: { name: "a" } },
      { key: "b", type: "t", payload: { name: "b" } },
    ]);
    await tq.queue.start();
    await untilStatus(tq, b!.id, "running");
    const events = recordEvents(tq.queue, ["job:started", "job:cancelled"]);
    await tq.queue.cancel(b!.id);
    await untilStatus(tq, b!.id, "cancelled");
    gate.resolve();
    await untilStatus(tq, a!.id, "completed");
    await tq.clock.advance(1_000);
    expect(ran).toEqual(["a"]);
    expect(events.map((e) => e.name)).toEqual(["job:cancelled"]);
  });

  it("releases waiting jobs to pending at shutdown without counting an attempt", async () => {
    const shared = new MemoryStorage();
    const tq = newQueue({ concurrency: 1, prefetch: 2, shutdownGraceMs: 5_000, storage: wrapStorage(shared) });
    const { gate, ran } = gatedHandler(tq.queue);
    const ids = (await tq.queue.enqueueMany([{ key: "a", type: "t" }, { key: "b", type: "t" }, { key: "c", type: "t" }])).map((job) => job.id);
    await tq.queue.start();
    await runUntil(tq.clock, async () => (await countStatus(shared, ids, "running")) === 3);
    const closing = tq.queue.shutdown();
    await runUntil(tq.clock, async () => (await countStatus(shared, ids, "pending")) === 2);
    gate.resolve();
    await drive(tq.clock, closing);
    expect(ran).toHaveLength(1);
    const jobs = await Promise.all(ids.map((id) => shared.getJob(id)));
    expect(jobs.map((job) => [job?.status, job?.attempt])).toEqual([["completed", 1], ["pending", 0], ["pending", 0]]);
    expect(tq.clock.pendingTimers).toBe(0);
  });

  it("refills only once half the prefetched jobs have started", async () => {
    // A window of 6: 2 running, up to 4 waiting.
    const limits = await claimLimitsReleasingOneByOne({ concurrency: 2, prefetch: 4 }, 20);
    // One job freed at a time would have sent a claim for each; every claim asked for two or more.
    expect(limits.filter((limit) => limit > 0).length).toBeGreaterThan(3);
    expect(Math.min(...limits)).toBeGreaterThanOrEqual(2);
  });

  it("refills while prefetched jobs still wait, so a freed slot finds one ready (prefetch equal to concurrency)", async () => {
    const limits = await claimLimitsReleasingOneByOne({ concurrency: 10, prefetch: 10 }, 40);
    // With all ten slots busy a claim asks for 10 minus what still waits: below 10, it went out while some waited.
    expect(limits.some((limit) => limit > 0 && limit < 10)).toBe(true);
    expect(Math.min(...limits.filter((limit) => limit > 0))).toBeGreaterThanOrEqual(5);
  });

  it("gets through a long run of prefetched attempts that end at once (a handler throwing synchronously), then runs the next job", async () => {
    const tq = newQueue({ concurrency: 1, prefetch: 5_000 });
    tq.queue.defineHandler("boom", {
      retry: { maxAttempts: 1 },
      run: () => {
        throw new Error("at once");
      },
    });
    tq.queue.defineHandler("t", { run: async () => "ok" });
    const jobs = await tq.queue.enqueueMany(Array.from({ length: 4_000 }, (_, i) => ({ key: `b${i}`, type: "boom" })));
    await tq.queue.start();
    await runUntil(tq.clock, async () => (await tq.queue.getJob(jobs[jobs.length - 1]!.id))?.status === "failed", { maxMs: 10_000 });
    const after = await tq.queue.enqueue("t", {});
    expect((await untilStatus(tq, after.id, "completed", { maxMs: 10_000 })).result).toBe("ok");
    expect((await tq.queue.metrics()).running).toBe(0);
  });

  it("rejects a negative or fractional prefetch with a ValidationError", () => {
    for (const prefetch of [-1, 1.5, "2"]) {
      expect(() => newQueue({ prefetch: prefetch as number })).toThrow(expect.objectContaining({ code: "VALIDATION" }));
    }
  });
});

describe("a wake declined while the prefetched attempts fill the worker", () => {
  it("is owed: a job enqueued while more than half the prefetched jobs wait is claimed once they ran, not at the poll", async () => {
    const tq = newQueue({ concurrency: 1, prefetch: 4, pollIntervalMs: 60_000 });
    const gate = deferred();
    const started: string[] = [];
    tq.queue.defineHandler("t", {
      run: async (payload) => {
        started.push((payload as { name: string }).name);
        await gate.promise;
      },
    });
    // Four jobs: one claim takes them all (fewer than the 5 it asked for: "drained"), three wait for the one slot.
    await tq.queue.enqueueMany(Array.from({ length: 4 }, (_, i) => ({ key: `j${i}`, type: "t", payload: { name: `j${i}` } })));
    await tq.queue.start();
    await runUntil(tq.clock, () => started.length === 1);
    // A fifth, enqueued while three prefetched jobs still wait (more than prefetch / 2).
    const late = await tq.queue.enqueue("t", { name: "late" });
    await tq.clock.advance(0);
    gate.resolve();
    // Well within the 60 s poll: the four run one after another, then the late one should.
    await runUntil(tq.clock, async () => (await tq.queue.getJob(late.id))?.status === "completed", { maxMs: 5_000 }).catch(() => undefined);
    expect(started).toEqual(["j0", "j1", "j2", "j3", "late"]);
    expect((await tq.queue.getJob(late.id))?.status).toBe("completed");
  });
});
