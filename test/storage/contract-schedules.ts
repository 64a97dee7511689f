import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { UnknownDependencyError } from "../../src/errors.js";
import type { FireScheduleRequest, NewSchedule, StoredSchedule } from "../../src/storage/storage.js";
import { newJob, secondsFromNow } from "./builders.js";
import type { StoreUnderTest } from "./store-under-test.js";

/** A schedule with ordinary settings; override what a test is about. */
export function newSchedule(overrides: Partial<NewSchedule> = {}): NewSchedule {
  return {
    name: "reports.nightly",
    cron: "0 3 * * *",
    timezone: "Europe/Berlin",
    type: "reports.build",
    payload: { kind: "daily" },
    options: { priority: "low", maxAttempts: 2 },
    misfire: "run-once",
    nextRunAt: secondsFromNow(60),
    ...overrides,
  };
}

/** Schedules: storing by name, and the compare-and-set that fires each tick once. */
export function describeScheduleContract(t: StoreUnderTest): void {
  describe("schedules", () => {
    const list = () => t.storage.listSchedules();
    const fire = (schedule: StoredSchedule, overrides: Partial<FireScheduleRequest> = {}) => {
      const tick = schedule.nextRunAt;
      return t.storage.fireSchedule({
        name: schedule.name, revision: schedule.revision, nextRunAt: secondsFromNow(120), tick,
        job: newJob({ type: schedule.type, idempotencyKey: `schedule:${schedule.name}:${tick?.toISOString()}` }), now: new Date(), ...overrides,
      });
    };

    it("stores a schedule as given and lists schedules by name", async () => {
      const input = newSchedule({ payload: null, timezone: undefined, options: { resources: { cpu: 1 }, backoff: { type: "fixed", baseMs: 5, maxMs: 5, jitter: false } } });
      const stored = await t.storage.putSchedule(input);
      expect(stored).toEqual({ ...input, lastRunAt: undefined, revision: expect.any(Number) });
      await t.storage.putSchedule(newSchedule({ name: "a.first" }));
      await t.storage.putSchedule(newSchedule({ name: "zz ünïcode ✓" }));
      expect((await list()).map((s) => s.name)).toEqual(["a.first", "reports.nightly", "zz ünïcode ✓"]);
      expect((await list())[1]).toEqual(stored);
    });

    it("replaces a schedule of the same name, keeping its last run and moving its revision", async () => {
      const first = await t.storage.putSchedule(newSchedule());
      const fired = await fire(first);
      if (fired.type !== "fired") throw new Error("the first fire was lost");
      const replacement = newSchedule({ cron: "*/5 * * * *", timezone: "America/New_York", type: "other.type", payload: [1], misfire: "skip", nextRunAt: secondsFromNow(300) });
      const replaced = await t.storage.putSchedule(replacement);
      expect(replaced).toMatchObject({ ...replacement, lastRunAt: first.nextRunAt });
      expect(replaced.revision).not.toBe(fired.schedule.revision);
      expect(await list()).toEqual([replaced]);
    });

    it("keeps a next run due and not yet fired when the same timing is put again, and plans afresh for a new timing", async () => {
      // Every process declares its schedules at boot: one that boots just after a tick, before a
      // worker fired it, must not move the tick away.
      const due = secondsFromNow(-5);
      const first = await t.storage.putSchedule(newSchedule({ nextRunAt: due }));
      const again = await t.storage.putSchedule(newSchedule({ nextRunAt: secondsFromNow(86_400), payload: { kind: "v2" } }));
      expect(again).toMatchObject({ nextRunAt: due, payload: { kind: "v2" } });
      expect(again.revision).not.toBe(first.revision);
      // Only an earlier next run is kept: a put planning one earlier than the stored one takes its own.
      await t.storage.putSchedule(newSchedule({ name: "hourly", cron: "0 * * * *", nextRunAt: secondsFromNow(60) }));
      const sooner = secondsFromNow(30);
      expect((await t.storage.putSchedule(newSchedule({ name: "hourly", cron: "0 * * * *", nextRunAt: sooner }))).nextRunAt).toEqual(sooner);
      // A new cron or zone plans afresh.
      const recut = secondsFromNow(3_600);
      expect((await t.storage.putSchedule(newSchedule({ cron: "30 3 * * *", nextRunAt: recut }))).nextRunAt).toEqual(recut);
      const rezoned = secondsFromNow(7_200);
      expect((await t.storage.putSchedule(newSchedule({ cron: "30 3 * * *", timezone: "Asia/Tokyo", nextRunAt: rezoned }))).nextRunAt).toEqual(rezoned);
    });

    it("lists names in code-point order, also above U+FFFF", async () => {
      // U+FFFD is one UTF-16 unit, U+1F600 two (D83D DE00): by units the emoji would come first.
      for (const name of ["\u{1F600} emoji", "\uFFFD replacement", "\uE000 private use"]) await t.storage.putSchedule(newSchedule({ name }));
      expect((await list()).map((s) => s.name)).toEqual(["\uE000 private use", "\uFFFD replacement", "\u{1F600} emoji"]);
    });

    it("deletes a schedule and says whether there was one", async () => {
      await t.storage.putSchedule(newSchedule());
      expect(await t.storage.deleteSchedule("reports.nightly")).toBe(true);
      expect(await t.storage.deleteSchedule("reports.nightly")).toBe(false);
      expect(await t.storage.deleteSchedule("never.there")).toBe(false);
      expect(await list()).toEqual([]);
    });

    it("fires a tick: the job is inserted and the next run moves, in one step", async () => {
      const schedule = await t.storage.putSchedule(newSchedule());
      const next = secondsFromNow(120);
      const result = await fire(schedule, { nextRunAt: next });
      if (result.type !== "fired") throw new Error("fire was lost");
      expect(result.job?.type).toBe("inserted");
      expect(result.job?.job).toMatchObject({ type: "reports.build", status: "pending", idempotencyKey: `schedule:reports.nightly:${schedule.nextRunAt?.toISOString()}` });
      expect(result.schedule).toMatchObject({ nextRunAt: next, lastRunAt: schedule.nextRunAt });
      expect(await list()).toEqual([result.schedule]);
      expect(await t.totalJobs()).toBe(1);
    });

    it("loses a fire planned from an old revision, and then inserts nothing", async () => {
      const schedule = await t.storage.putSchedule(newSchedule());
      expect((await fire(schedule)).type).toBe("fired");
      expect(await fire(schedule)).toEqual({ type: "lost" });
      const replaced = await t.storage.putSchedule(newSchedule());
      expect(await fire(schedule)).toEqual({ type: "lost" });
      await t.storage.deleteSchedule(replaced.name);
      expect(await fire(replaced)).toEqual({ type: "lost" });
      expect(await t.totalJobs()).toBe(1);
    });

    it("loses a fire planned from a deleted schedule once one is created again under its name", async () => {
      const deleted = await t.storage.putSchedule(newSchedule({ nextRunAt: secondsFromNow(-1) }));
      expect(await t.storage.deleteSchedule(deleted.name)).toBe(true);
      const created = await t.storage.putSchedule(newSchedule({ cron: "0 4 * * *", type: "other.type", payload: { kind: "new" }, nextRunAt: secondsFromNow(3_600) }));
      const stale = newJob({ type: deleted.type, payload: deleted.payload });
      expect(await fire(deleted, { job: stale })).toEqual({ type: "lost" });
      expect(await list()).toEqual([created]);
      expect(await t.totalJobs()).toBe(0);
      expect(created.revision).not.toBe(deleted.revision);
    });

    it("never fires a tick again once it fired, also after a put planned before it moved the next run back to it", async () => {
      const tick = secondsFromNow(-1);
      const first = await t.storage.putSchedule(newSchedule({ nextRunAt: tick }));
      expect((await fire(first)).type).toBe("fired");
      // The tick's job ran: its idempotency key no longer holds off a second one.
      await t.run("reports.build");
      // A put planned (from the same expression) just before the tick, landing only now.
      const late = await t.storage.putSchedule(newSchedule({ nextRunAt: tick }));
      expect(late).toMatchObject({ nextRunAt: tick, lastRunAt: tick });
      expect(await fire(late)).toEqual({ type: "lost" });
      expect(await list()).toEqual([late]);
      expect(await t.totalJobs()).toBe(1);
      // The tick after the last run still fires from that revision.
      const following = await fire(late, { tick: secondsFromNow(60), job: newJob({ type: "reports.build" }) });
      expect(following).toMatchObject({ type: "fired", job: { type: "inserted" } });
      expect(await t.totalJobs()).toBe(2);
    });

    it("fires one of many concurrent fires of the same revision", async () => {
      const schedule = await t.storage.putSchedule(newSchedule());
      const results = await Promise.all(Array.from({ length: 8 }, () => fire(schedule, { job: newJob({ type: "reports.build" }) })));
      expect(results.filter((r) => r.type === "fired")).toHaveLength(1);
      expect(await t.totalJobs()).toBe(1);
    });

    it("skips missed ticks without a job: the next run moves, the last run stays", async () => {
      const schedule = await t.storage.putSchedule(newSchedule());
      const next = secondsFromNow(600);
      const result = await fire(schedule, { job: undefined, tick: undefined, nextRunAt: next });
      expect(result).toMatchObject({ type: "fired", job: undefined, schedule: { nextRunAt: next, lastRunAt: undefined } });
      expect(await t.totalJobs()).toBe(0);
    });

    it("can move to no next run at all (an expression without ticks left)", async () => {
      const schedule = await t.storage.putSchedule(newSchedule());
      const result = await fire(schedule, { nextRunAt: undefined });
      expect(result).toMatchObject({ type: "fired", schedule: { nextRunAt: undefined } });
    });

    it("returns the live job holding the tick's key instead of a second one", async () => {
      const schedule = await t.storage.putSchedule(newSchedule());
      const key = `schedule:reports.nightly:${schedule.nextRunAt?.toISOString()}`;
      const [holder] = await t.insert(newJob({ idempotencyKey: key }));
      const result = await fire(schedule);
      expect(result).toMatchObject({ type: "fired", job: { type: "existing", job: { id: holder!.id } } });
      expect(await t.totalJobs()).toBe(1);
    });

    it("changes nothing when the tick's job is refused", async () => {
      const schedule = await t.storage.putSchedule(newSchedule());
      await expect(fire(schedule, { job: newJob({ dependsOn: [randomUUID()] }) })).rejects.toBeInstanceOf(UnknownDependencyError);
      expect(await list()).toEqual([schedule]);
      expect(await t.totalJobs()).toBe(0);
      expect((await fire(schedule)).type).toBe("fired");
    });
  });
}
