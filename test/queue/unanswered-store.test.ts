import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { Storage } from "../../src/storage/storage.js";
import { closeAll, drive, newQueue, recordEvents, runUntil, wrapStorage } from "./support.js";

afterEach(closeAll);

/**
 * A store whose calls made while `silent` is set never answer, as a driver that lost the request
 * when its connection was killed; `resets` counts the worker asking it to replace its connections.
 */
function unansweringStore(shared: MemoryStorage, calls: readonly (keyof Storage)[]) {
  const state = { silent: false, resets: 0, unanswered: [] as string[] };
  const overrides: Record<string, unknown> = { resetConnections: () => void state.resets++ };
  for (const name of calls) {
    overrides[name] = (...args: unknown[]) => {
      if (state.silent) {
        state.unanswered.push(name);
        return new Promise(() => undefined);
      }
      return ((shared as unknown as Record<string, (...a: unknown[]) => unknown>)[name] as (...a: unknown[]) => unknown).apply(shared, args);
    };
  }
  return { state, storage: wrapStorage(shared, overrides as Partial<Storage>) };
}

describe("a store that stops answering the worker's calls", () => {
  it("bounds settle and log writes by a lease: the outcome is stored once the store answers again, and shutdown returns", async () => {
    const clock = new ManualClock();
    const { state, storage } = unansweringStore(new MemoryStorage(), ["settle", "appendLogs"]);
    const { queue } = newQueue({ clock, storage, concurrency: 2, leaseMs: 1_000 });
    queue.defineHandler("pay", {
      run: (_payload, ctx) => {
        ctx.log("info", "paying");
        return "paid";
      },
    });
    const errors = recordEvents(queue, ["queue:error"]);
    await queue.start();
    const job = await queue.enqueue("pay", {});
    state.silent = true;
    await runUntil(clock, () => state.unanswered.includes("settle"), { stepMs: 10, maxMs: 5_000 });
    state.silent = false;
    // The unanswered settle fails at its deadline; the next try is answered.
    await runUntil(clock, async () => (await queue.getJob(job.id))?.status === "completed", { stepMs: 50, maxMs: 10_000 });
    expect(await queue.getJob(job.id)).toMatchObject({ status: "completed", attempt: 1, result: "paid" });
    expect(state.resets).toBeGreaterThan(0);
    expect(errors.some((e) => /no answer from the store/.test(String((e.payload as { error: Error }).error.message)))).toBe(true);
    // Fresh jobs still run, and shutdown drains the batches and returns.
    const fresh = await queue.enqueue("pay", {});
    await runUntil(clock, async () => (await queue.getJob(fresh.id))?.status === "completed", { stepMs: 50, maxMs: 10_000 });
    await drive(clock, queue.shutdown(), { stepMs: 100, maxMs: 30_000 });
  });

  it("bounds the rescuer's and the pruner's calls: a pass that gets no answer ends, the next one rescues", async () => {
    const clock = new ManualClock();
    const shared = new MemoryStorage();
    const { state, storage } = unansweringStore(shared, ["findExpiredLeases", "deleteFinishedJobs", "settle"]);
    const { queue } = newQueue({
      clock, storage, concurrency: 1, leaseMs: 1_000, rescueIntervalMs: 200,
      retention: { completedMs: 1, failedMs: 1, cancelledMs: 1, intervalMs: 200 },
    });
    // A worker that died holding a lease: its job must be rescued by this queue's rescuer.
    const { queue: dead } = newQueue({ clock, storage: shared, concurrency: 1, leaseMs: 1_000, heartbeatMs: 60_000 });
    dead.defineHandler("pay", { run: () => new Promise(() => undefined) });
    queue.defineHandler("pay", { retry: { maxAttempts: 3 }, run: () => "paid" });
    await dead.start();
    const job = await dead.enqueue("pay", {});
    await runUntil(clock, async () => (await shared.getJob(job.id))?.status === "running", { stepMs: 10, maxMs: 5_000 });
    state.silent = true;
    await queue.start();
    await runUntil(clock, () => state.unanswered.includes("findExpiredLeases") && state.unanswered.includes("deleteFinishedJobs"), { stepMs: 50, maxMs: 10_000 });
    state.silent = false;
    await runUntil(clock, async () => (await shared.getJob(job.id))?.status === "completed", { stepMs: 50, maxMs: 20_000 });
    expect(await shared.getJob(job.id)).toMatchObject({ status: "completed", attempt: 2 });
    await drive(clock, queue.shutdown(), { stepMs: 100, maxMs: 30_000 });
  });
});
