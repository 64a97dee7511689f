import { afterEach, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/errors.js";
import type { JobContext } from "../../src/handler.js";
import { Concurrency, closeAll, deferred, newQueue, runUntil, snapshotStore, untilStatus } from "./support.js";

afterEach(closeAll);

const cpuOf = (ctx: JobContext) => ctx.job.resources.cpu ?? 0;

describe("resources", () => {
  it("never uses more than the capacity at once, and does use all of it", async () => {
    const tq = newQueue({ capacity: { cpu: 2 }, concurrency: 10 });
    const cpu = new Concurrency();
    tq.queue.defineHandler("work", {
      run: async (_payload, ctx) => {
        cpu.enter(cpuOf(ctx));
        await new Promise<void>((resolve) => tq.clock.setTimer(resolve, 50));
        cpu.leave(cpuOf(ctx));
      },
    });
    await tq.queue.start();
    const needs = [1, 2, 1, 1, 2, 1, 2, 1, 1, 2];
    const jobs = [];
    for (const need of needs) jobs.push(await tq.queue.enqueue("work", {}, { resources: { cpu: need } }));
    for (const job of jobs) await untilStatus(tq, job.id, "completed");
    expect(cpu.peak).toBe(2);
    expect(cpu.current).toBe(0);
  });

  it("backfills a small job while a big one waits for capacity", async () => {
    const tq = newQueue({ capacity: { cpu: 2 } });
    const holds = new Map<string, () => void>();
    tq.queue.defineHandler("work", {
      run: (payload) => new Promise<void>((resolve) => holds.set((payload as { name: string }).name, resolve)),
    });
    await tq.queue.start();
    const small1 = await tq.queue.enqueue("work", { name: "small1" }, { resources: { cpu: 1 } });
    await untilStatus(tq, small1.id, "running");
    const big = await tq.queue.enqueue("work", { name: "big" }, { resources: { cpu: 2 } });
    const small2 = await tq.queue.enqueue("work", { name: "small2" }, { resources: { cpu: 1 } });
    await untilStatus(tq, small2.id, "running");
    expect((await tq.queue.getJob(big.id))?.status).toBe("pending");
    holds.get("small1")?.();
    holds.get("small2")?.();
    await untilStatus(tq, big.id, "running");
    holds.get("big")?.();
    await untilStatus(tq, big.id, "completed");
  });

  it("lets a big job that waited past starvationMs reserve capacity, so small ones stop backfilling", async () => {
    const tq = newQueue({ capacity: { cpu: 2 }, starvationMs: 60_000 });
    const holds = new Map<string, () => void>();
    const started: string[] = [];
    tq.queue.defineHandler("work", {
      run: (payload) => new Promise<void>((resolve) => {
        const name = (payload as { name: string }).name;
        started.push(name);
        holds.set(name, resolve);
      }),
    });
    await tq.queue.start();
    const small1 = await tq.queue.enqueue("work", { name: "small1" }, { resources: { cpu: 1 } });
    await untilStatus(tq, small1.id, "running");
    const big = await tq.queue.enqueue("work", { name: "big" }, { resources: { cpu: 2 } });
    await tq.clock.advance(61_000);
    const small2 = await tq.queue.enqueue("work", { name: "small2" }, { resources: { cpu: 1 } });
    await tq.clock.advance(5_000);
    expect((await tq.queue.getJob(small2.id))?.status).toBe("pending");
    expect((await tq.queue.getJob(big.id))?.status).toBe("pending");
    holds.get("small1")?.();
    await untilStatus(tq, big.id, "running");
    expect((await tq.queue.getJob(small2.id))?.status).toBe("pending");
    holds.get("big")?.();
    await untilStatus(tq, small2.id, "running");
    holds.get("small2")?.();
    await untilStatus(tq, small2.id, "completed");
    expect(started).toEqual(["small1", "big", "small2"]);
  });

  it("rejects at enqueue a job needing more than the capacity when the handler is local", async () => {
    const { queue } = newQueue({ capacity: { cpu: 2 } });
    queue.defineHandler("work", { run: () => null });
    queue.defineHandler("heavy", { resources: { cpu: 3 }, run: () => null });
    const before = await snapshotStore(queue);
    await expect(queue.enqueue("work", {}, { resources: { cpu: 3 } })).rejects.toBeInstanceOf(ValidationError);
    await expect(queue.enqueue("work", {}, { resources: { gpu: 1 } })).rejects.toBeInstanceOf(ValidationError);
    await expect(queue.enqueue("heavy", {})).rejects.toMatchObject({ code: "VALIDATION" });
    await expect(queue.enqueueMany([{ key: "a", type: "work" }, { key: "b", type: "heavy", dependsOn: ["a"] }])).rejects.toBeInstanceOf(ValidationError);
    expect(await snapshotStore(queue)).toEqual(before);
    await expect(queue.enqueue("work", {}, { resources: { cpu: 2 } })).resolves.toMatchObject({ status: "pending" });
  });

  it("keeps a too-big job of a remote type waiting and reports it as unschedulable", async () => {
    const producer = newQueue({ capacity: { cpu: 8 } });
    const job = await producer.queue.enqueue("remote", {}, { resources: { cpu: 4 } });
    const worker = newQueue({ capacity: { cpu: 2 }, storage: producer.storage, clock: producer.clock });
    const gate = deferred();
    worker.queue.defineHandler("remote", { run: () => gate.promise });
    await worker.queue.start();
    await runUntil(worker.clock, async () => (await worker.queue.metrics()).unschedulable === 1);
    expect((await worker.queue.getJob(job.id))?.status).toBe("pending");
  });

  it("accounts fractional resources exactly: after a 0.2 job, a job needing the whole 0.9 runs", async () => {
    const tq = newQueue({ capacity: { cpu: 0.9 } });
    tq.queue.defineHandler("work", { run: () => "done" });
    await tq.queue.start();
    const small = await tq.queue.enqueue("work", {}, { resources: { cpu: 0.2 } });
    await untilStatus(tq, small.id, "completed");
    expect((await tq.queue.metrics()).resources.inUse).toEqual({ cpu: 0 });
    const whole = await tq.queue.enqueue("work", {}, { resources: { cpu: 0.9 } });
    await untilStatus(tq, whole.id, "completed");
  });

  it("fills a fractional capacity exactly with fractional jobs running at once", async () => {
    const tq = newQueue({ capacity: { cpu: 0.3 }, concurrency: 5 });
    const gate = deferred();
    const cpu = new Concurrency();
    tq.queue.defineHandler("work", {
      run: async (_payload, ctx) => {
        cpu.enter();
        await gate.promise;
        cpu.leave();
        return cpuOf(ctx);
      },
    });
    await tq.queue.start();
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push(await tq.queue.enqueue("work", {}, { resources: { cpu: 0.1 } }));
    // 0.1 + 0.1 + 0.1 is 0.30000000000000004 in floating point: all three fit 0.3 all the same.
    await runUntil(tq.clock, () => cpu.current === 3);
    gate.resolve();
    for (const job of jobs) await untilStatus(tq, job.id, "completed");
    expect((await tq.queue.metrics()).resources.inUse).toEqual({ cpu: 0 });
  });
});
