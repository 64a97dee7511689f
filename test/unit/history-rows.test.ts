import { describe, expect, it } from "vitest";
import { attemptsOf, transitionsOf } from "../../src/storage/postgres/rows.js";

describe("the history columns as PostgresStorage reads them", () => {
  it("reads attempt entries, dates as Dates, leaving out what is absent", () => {
    expect(attemptsOf([
      { attempt: 1, startedAt: "2026-12-04T19:30:00.123456+00:00", finishedAt: "2026-12-04T19:30:01.5+01:00", outcome: "retry", error: { name: "E", message: "m", code: "C" }, workerId: "w" },
      { attempt: 2, startedAt: "2026-12-04T19:31:00+00:00" },
    ])).toEqual([
      { attempt: 1, startedAt: new Date("2026-12-04T19:30:00.123Z"), finishedAt: new Date("2026-12-04T18:30:01.500Z"), outcome: "retry", error: { name: "E", message: "m", code: "C" }, workerId: "w" },
      { attempt: 2, startedAt: new Date("2026-12-04T19:31:00.000Z") },
    ]);
  });

  it("leaves out what is not an entry or not part of one, and reads anything but an array as no history", () => {
    for (const value of [null, undefined, "[]", 42, { attempt: 1 }]) expect(attemptsOf(value)).toEqual([]);
    expect(attemptsOf([null, 7, "x", [], { attempt: "1", startedAt: "2026-01-01T00:00:00Z" }, { attempt: 1, startedAt: "not a date" }])).toEqual([]);
    expect(attemptsOf([{ attempt: 1, startedAt: "2026-01-01T00:00:00Z", outcome: "exploded", error: { name: 1 }, workerId: {}, finishedAt: 5, __proto__: { x: 1 } }]))
      .toEqual([{ attempt: 1, startedAt: new Date("2026-01-01T00:00:00Z") }]);
    expect(transitionsOf([
      { at: "2026-01-01T00:00:00Z", from: null, to: "blocked", attempt: 0 },
      { at: "2026-01-01T00:00:01Z", from: "nowhere", to: "pending", attempt: 0 },
      { at: "2026-01-01T00:00:02Z", from: "blocked", to: "pending" },
      { at: "2026-01-01T00:00:03Z", from: "pending", to: "cancelled", attempt: 0, error: { name: "E", message: "m", extra: "dropped" } },
    ])).toEqual([
      { at: new Date("2026-01-01T00:00:00Z"), from: null, to: "blocked", attempt: 0 },
      { at: new Date("2026-01-01T00:00:03Z"), from: "pending", to: "cancelled", attempt: 0, error: { name: "E", message: "m" } },
    ]);
  });
});
