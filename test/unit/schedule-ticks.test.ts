import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/errors.js";
import { canonicalTimeZone, parseCron } from "../../src/schedule/cron.js";
import { misfireGraceMs, pendingRun, planTick } from "../../src/schedule/plan-tick.js";

const at = (iso: string) => new Date(iso);
const iso = (date: Date | undefined) => date?.toISOString();

/** The first `n` ticks after `from`. */
function ticksAfter(cron: string, timezone: string | undefined, from: string, n: number): (string | undefined)[] {
  const ticks = parseCron(cron, timezone);
  const out: (string | undefined)[] = [];
  let current: Date | undefined = at(from);
  for (let i = 0; i < n && current !== undefined; i++) {
    current = ticks.after(current);
    out.push(iso(current));
  }
  return out;
}

describe("parseCron", () => {
  it("reads 5 fields (minutes) and 6 (seconds first), in UTC by default", () => {
    expect(ticksAfter("*/15 * * * *", undefined, "2026-01-01T00:00:00Z", 2)).toEqual(["2026-01-01T00:15:00.000Z", "2026-01-01T00:30:00.000Z"]);
    expect(ticksAfter("*/20 * * * * *", undefined, "2026-01-01T00:00:00Z", 2)).toEqual(["2026-01-01T00:00:20.000Z", "2026-01-01T00:00:40.000Z"]);
    expect(iso(parseCron("* * * * *", undefined).before(at("2026-01-01T00:00:00Z")))).toBe("2025-12-31T23:59:00.000Z");
  });

  it("Europe/Berlin, spring gap: a fixed time in the gap runs at the first time after it; an interval skips the gap", () => {
    // 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC).
    expect(ticksAfter("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", 3)).toEqual([
      "2026-03-28T01:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z",
    ]);
    expect(ticksAfter("*/30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", 3)).toEqual([
      "2026-03-29T00:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-29T01:30:00.000Z",
    ]);
  });

  it("Europe/Berlin, autumn repeat: a fixed time runs once; an interval runs on both occurrences", () => {
    // 2026-10-25 03:00 CEST -> 02:00 CET (01:00 UTC): 02:00-02:59 happens twice.
    expect(ticksAfter("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2)).toEqual(["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
    expect(ticksAfter("*/30 * * * *", "Europe/Berlin", "2026-10-24T23:45:00Z", 4)).toEqual([
      "2026-10-25T00:00:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-25T01:00:00.000Z", "2026-10-25T01:30:00.000Z",
    ]);
  });

  it("America/New_York: gap and repeat", () => {
    // 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC); 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC).
    expect(ticksAfter("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2)).toEqual(["2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z"]);
    expect(ticksAfter("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2)).toEqual(["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"]);
    // 01:30 EDT, then 01:00 and 01:30 EST, then 02:00 EST.
    expect(ticksAfter("0,30 * * * *", "America/New_York", "2026-11-01T05:15:00Z", 4)).toEqual([
      "2026-11-01T05:30:00.000Z", "2026-11-01T06:00:00.000Z", "2026-11-01T06:30:00.000Z", "2026-11-01T07:00:00.000Z",
    ]);
  });

  it.each([
    ["an empty expression", "", undefined],
    ["too few fields", "* * *", undefined],
    ["seven fields", "* * * * * * *", undefined],
    ["a minute out of range", "61 * * * *", undefined],
    ["garbage", "every day at noon", undefined],
    ["an unknown time zone", "* * * * *", "Mars/Olympus"],
    ["an empty time zone", "* * * * *", ""],
  ])("refuses %s with a ValidationError", (_, cron, timezone) => {
    expect(() => parseCron(cron, timezone)).toThrow(ValidationError);
  });
});

describe("canonicalTimeZone", () => {
  it.each([
    ["europe/berlin", "Europe/Berlin"],
    ["EUROPE/BERLIN", "Europe/Berlin"],
    ["america/new_york", "America/New_York"],
    ["utc", "UTC"],
    // A link keeps its name: Node's ICU would answer the older Asia/Calcutta.
    ["Asia/Kolkata", "Asia/Kolkata"],
    ["US/Eastern", "US/Eastern"],
  ])("spells %s as %s", (given, canonical) => {
    expect(canonicalTimeZone(given)).toBe(canonical);
  });

  it.each([["Mars/Olympus"], [""], ["Europe/Berlin\u0000"], ["../../etc/passwd"]])("refuses %j with a ValidationError", (zone) => {
    expect(() => canonicalTimeZone(zone)).toThrow(ValidationError);
  });
});

describe("planTick", () => {
  const everyMinute = parseCron("* * * * *", undefined);
  const grace = 30_000;
  const plan = (nextRunAt: string | undefined, now: string, misfire: "run-once" | "skip" = "run-once") =>
    planTick({ nextRunAt: nextRunAt === undefined ? undefined : at(nextRunAt), misfire }, everyMinute, at(now), grace);

  it("waits for a tick not yet due, and for ever without one", () => {
    expect(plan("2026-01-01T00:01:00Z", "2026-01-01T00:00:59.999Z")).toEqual({ type: "wait", at: at("2026-01-01T00:01:00Z") });
    expect(plan(undefined, "2026-01-01T00:00:00Z")).toEqual({ type: "wait", at: undefined });
  });

  it("fires a due tick on time or late within the grace, under either policy, and plans the tick after it", () => {
    for (const misfire of ["run-once", "skip"] as const) {
      const expected = { type: "fire", tick: at("2026-01-01T00:01:00Z"), nextRunAt: at("2026-01-01T00:02:00Z") };
      expect(plan("2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", misfire)).toEqual(expected);
      expect(plan("2026-01-01T00:01:00Z", "2026-01-01T00:01:30Z", misfire)).toEqual(expected);
    }
  });

  it("run-once: one fire for all the ticks up to now once one was missed, as the newest, then the tick after it", () => {
    expect(plan("2026-01-01T00:01:00Z", "2026-01-01T01:00:45Z")).toEqual({ type: "fire", tick: at("2026-01-01T01:00:00Z"), nextRunAt: at("2026-01-01T01:01:00Z") });
    expect(plan("2026-01-01T00:01:00Z", "2026-01-01T01:00:15Z")).toEqual({ type: "fire", tick: at("2026-01-01T01:00:00Z"), nextRunAt: at("2026-01-01T01:01:00Z") });
    expect(plan("2026-01-01T00:01:00Z", "2026-01-01T01:00:00Z")).toEqual({ type: "fire", tick: at("2026-01-01T01:00:00Z"), nextRunAt: at("2026-01-01T01:01:00Z") });
  });

  it("skip: drops the missed ticks, fires the newest only when it is within the grace", () => {
    expect(plan("2026-01-01T00:01:00Z", "2026-01-01T01:00:45Z", "skip")).toEqual({ type: "skip", nextRunAt: at("2026-01-01T01:01:00Z") });
    expect(plan("2026-01-01T00:01:00Z", "2026-01-01T01:00:15Z", "skip")).toEqual({ type: "fire", tick: at("2026-01-01T01:00:00Z"), nextRunAt: at("2026-01-01T01:01:00Z") });
  });

  it("never plans more than one fire for a whole outage, however long", () => {
    const everySecond = parseCron("* * * * * *", undefined);
    const result = planTick({ nextRunAt: at("2026-01-01T00:00:01Z"), misfire: "run-once" }, everySecond, at("2027-01-01T00:00:00.500Z"), grace);
    expect(result).toEqual({ type: "fire", tick: at("2027-01-01T00:00:00Z"), nextRunAt: at("2027-01-01T00:00:01Z") });
  });

  it("never plans a tick at or before the last run: it waits for the tick after it, moving the stored next run there", () => {
    const planFrom = (nextRunAt: string, lastRunAt: string, now: string) =>
      planTick({ nextRunAt: at(nextRunAt), lastRunAt: at(lastRunAt), misfire: "run-once" }, everyMinute, at(now), grace);
    // A put planned before 00:01 landed after 00:01 fired.
    expect(planFrom("2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:01:05Z")).toEqual({ type: "move", nextRunAt: at("2026-01-01T00:02:00Z") });
    expect(planFrom("2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z")).toEqual({
      type: "fire", tick: at("2026-01-01T00:02:00Z"), nextRunAt: at("2026-01-01T00:03:00Z"),
    });
    expect(planFrom("2026-01-01T00:01:00Z", "2026-01-01T00:05:00Z", "2026-01-01T00:05:10Z")).toEqual({ type: "move", nextRunAt: at("2026-01-01T00:06:00Z") });
    // A next run after the last run is planned as before.
    expect(planFrom("2026-01-01T00:02:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:01:05Z")).toEqual({ type: "wait", at: at("2026-01-01T00:02:00Z") });
  });

  it("reads the pending run as the next run, or the first tick after the last run once that fired", () => {
    expect(pendingRun({ nextRunAt: at("2026-01-01T00:02:00Z"), lastRunAt: undefined }, everyMinute)).toEqual(at("2026-01-01T00:02:00Z"));
    expect(pendingRun({ nextRunAt: at("2026-01-01T00:02:00Z"), lastRunAt: at("2026-01-01T00:01:00Z") }, everyMinute)).toEqual(at("2026-01-01T00:02:00Z"));
    expect(pendingRun({ nextRunAt: at("2026-01-01T00:02:00Z"), lastRunAt: at("2026-01-01T00:02:00Z") }, everyMinute)).toEqual(at("2026-01-01T00:03:00Z"));
    expect(pendingRun({ nextRunAt: undefined, lastRunAt: at("2026-01-01T00:02:00Z") }, everyMinute)).toBeUndefined();
  });

  it("derives the grace from the poll interval: three intervals, at least 10 s", () => {
    expect(misfireGraceMs(1_000)).toBe(10_000);
    expect(misfireGraceMs(60_000)).toBe(180_000);
  });
});
