import { afterEach, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { Queue } from "../../src/queue.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { databaseUrl, describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";
import { drive, wrapStorage } from "../queue/support.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const SECOND = 1_000;
const POLL = 10 * SECOND;

// As test/queue/schedule-redeclare.test.ts, with two stores (two processes) on one schema.

describePostgres("two processes on one schema declaring the same schedule around its tick", () => {
  it("the tick due at the redeclaration, not yet fired by the (briefly paused) worker, is still enqueued once", async () => {
    const { storage: workerStore, schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const bootStore = new PostgresStorage({ connectionString: databaseUrl, schema, max: 2, listen: false });
    cleanups.push(() => bootStore.close());
    const clock = new ManualClock(new Date("2026-01-01T02:59:00Z"));
    let paused = false;
    let inFlight = 0;
    const worker = new Queue({
      clock, pollIntervalMs: POLL, retention: false, logger: false,
      storage: wrapStorage(workerStore, {
        listSchedules: async () => {
          if (paused) throw new Error("store busy");
          inFlight++;
          try {
            return await workerStore.listSchedules();
          } finally {
            inFlight--;
          }
        },
      }),
    });
    const booting = new Queue({ clock, pollIntervalMs: POLL, retention: false, logger: false, storage: wrapStorage(bootStore) });
    cleanups.push(() => drive(clock, booting.shutdown(), { stepMs: 1_000, maxMs: 120_000 }));
    cleanups.push(() => drive(clock, worker.shutdown(), { stepMs: 1_000, maxMs: 120_000 }));
    await worker.start();
    await worker.schedule("nightly", { cron: "0 3 * * *", type: "reports.build" });
    await clock.advance(50 * SECOND); // 02:59:50
    paused = true;
    // No pass of the worker is reading the schedules any more: from here it is paused.
    await eventually(() => (inFlight === 0 ? true : undefined), "the worker's pass in flight");
    await clock.advance(9 * SECOND);
    await clock.advance(2 * SECOND); // 03:00:01
    const redeclared = await booting.schedule("nightly", { cron: "0 3 * * *", type: "reports.build" });
    expect(redeclared.nextRunAt).toEqual(new Date("2026-01-01T03:00:00Z"));
    paused = false;
    await clock.advance(POLL);
    const keys = await eventually(async () => {
      const jobs = (await worker.listJobs({ limit: 100 })).jobs;
      return jobs.length > 0 ? jobs.map((job) => job.idempotencyKey) : undefined;
    }, "the tick's job");
    expect(keys).toEqual(["schedule:nightly:2026-01-01T03:00:00.000Z"]);
    // Fired once: the schedule has moved past it.
    expect((await worker.listSchedules())[0]).toMatchObject({ lastRunAt: new Date("2026-01-01T03:00:00Z"), nextRunAt: new Date("2026-01-02T03:00:00Z") });
  }, 30_000);
});
