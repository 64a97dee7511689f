import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { JobRecord } from "../../src/types.js";
import { closeAll, newQueue, wrapStorage, type TestQueue } from "../queue/support.js";

afterEach(closeAll);

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const POLL = 10 * SECOND;

async function jobsOf(tq: TestQueue): Promise<JobRecord[]> {
  return [...(await tq.queue.listJobs({ limit: 1_000 })).jobs].reverse();
}
async function ticksOf(tq: TestQueue, name: string): Promise<string[]> {
  const prefix = `schedule:${name}:`;
  return (await jobsOf(tq)).flatMap((job) => (job.idempotencyKey?.startsWith(prefix) ? [job.idempotencyKey.slice(prefix.length)] : []));
}

// Every process declares its schedules at boot. A declaration that lands after a tick came due but
// before a worker fired it planned the next run afresh from now, and the tick was lost; after an
// outage, a worker that declared before starting lost the missed ticks' one run-once job the same way.

describe("declaring the same schedule again around its tick", () => {
  it("a tick due but not yet fired (worker briefly paused, within the grace) still fires when another process declares the identical schedule", async () => {
    const storage = new MemoryStorage();
    const clock = new ManualClock(new Date("2026-01-01T00:00:00Z"));
    let paused = false;
    // The worker process: its store is briefly unavailable for reading schedules (a GC pause, a slow query).
    const worker = newQueue({
      clock, pollIntervalMs: POLL, retention: false,
      storage: wrapStorage(storage, {
        listSchedules: async () => {
          if (paused) throw new Error("store busy");
          return storage.listSchedules();
        },
      }),
    });
    // Another process (a rolling deploy) declaring the same schedule at boot, as every process does.
    const booting = newQueue({ clock, pollIntervalMs: POLL, retention: false, storage: wrapStorage(storage) });
    await worker.queue.start();
    await worker.queue.schedule("nightly", { cron: "0 3 * * *", type: "reports.build" });
    await clock.advance(3 * 60 * MINUTE - SECOND); // 02:59:59
    paused = true;
    await clock.advance(2 * SECOND); // 03:00:01: the 03:00 tick is due, the worker is paused
    const redeclared = await booting.queue.schedule("nightly", { cron: "0 3 * * *", type: "reports.build" });
    // The same timing keeps the due, unfired 03:00 tick as the next run.
    expect(redeclared.nextRunAt).toEqual(new Date("2026-01-01T03:00:00Z"));
    expect(redeclared.lastRunAt).toBeUndefined();
    paused = false;
    await clock.advance(POLL);
    // A briefly paused worker catches up, and the tick is enqueued once.
    expect(await ticksOf(worker, "nightly")).toEqual(["2026-01-01T03:00:00.000Z"]);
  });

  it("run-once after a full outage: the process that boots declares its schedules then starts, and the missed ticks get their one job", async () => {
    const storage = new MemoryStorage();
    const clock = new ManualClock(new Date("2026-01-01T00:00:00Z"));
    const before = newQueue({ clock, pollIntervalMs: POLL, retention: false, storage: wrapStorage(storage) });
    await before.queue.start();
    await before.queue.schedule("settle", { cron: "*/5 * * * *", type: "payments.settle", misfire: "run-once" });
    await clock.advance(5 * MINUTE);
    expect(await ticksOf(before, "settle")).toEqual(["2026-01-01T00:05:00.000Z"]);
    await before.queue.shutdown();
    // A deploy: no worker for 20 minutes (00:10 .. 00:25 missed).
    await clock.advance(20 * MINUTE + 30 * SECOND);
    const after = newQueue({ clock, pollIntervalMs: POLL, retention: false, storage: wrapStorage(storage) });
    await after.queue.schedule("settle", { cron: "*/5 * * * *", type: "payments.settle", misfire: "run-once" });
    await after.queue.start();
    await clock.advance(0);
    // run-once: one job for all the missed ticks, keyed by the newest.
    expect(await ticksOf(after, "settle")).toEqual(["2026-01-01T00:05:00.000Z", "2026-01-01T00:25:00.000Z"]);
  });
});
