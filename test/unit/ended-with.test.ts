import { describe, expect, it } from "vitest";
import { CANCELLED, CANCELLED_AT_RESCUE } from "../../src/cancel-request.js";
import { endedWith, LEASE_EXPIRED } from "../../src/scheduler/outcome.js";
import type { Outcome } from "../../src/storage/storage.js";
import type { AttemptRecord, JobRecord } from "../../src/types.js";

const at = new Date("2026-12-05T10:00:00Z");
const later = new Date("2026-12-05T10:05:00Z");
const declined = { name: "Error", message: "card declined", code: "DECLINED" };

/** A job whose history is `attempts` (only the fields `endedWith` reads matter). */
const jobWith = (...attempts: AttemptRecord[]) => ({ attempts }) as unknown as JobRecord;

describe("endedWith: whether a job's history shows an attempt ended with an outcome", () => {
  it("matches the attempt's outcome type, and for a failure, a retry or a cancel its error", () => {
    const job = jobWith(
      { attempt: 1, startedAt: at, finishedAt: at, outcome: "retry", error: declined },
      { attempt: 2, startedAt: later, finishedAt: later, outcome: "completed" },
    );
    expect(endedWith(job, 1, at, { type: "retry", error: declined, runAt: at })).toBe(true);
    expect(endedWith(job, 2, later, { type: "completed", result: null })).toBe(true);
    expect(endedWith(job, 1, at, { type: "completed", result: null })).toBe(false);
    expect(endedWith(job, 1, at, { type: "failed", error: declined })).toBe(false);
  });

  it("tells a rescue of the same attempt (LEASE_EXPIRED, or its cancel) from the worker's own outcome", () => {
    const rescued = jobWith({ attempt: 1, startedAt: at, finishedAt: at, outcome: "failed", error: LEASE_EXPIRED });
    expect(endedWith(rescued, 1, at, { type: "failed", error: declined })).toBe(false);
    expect(endedWith(rescued, 1, at, { type: "failed", error: { name: declined.name, message: declined.message } })).toBe(false);
    const cancelledAtRescue = jobWith({ attempt: 1, startedAt: at, finishedAt: at, outcome: "cancelled", error: CANCELLED_AT_RESCUE });
    expect(endedWith(cancelledAtRescue, 1, at, { type: "cancelled", error: CANCELLED })).toBe(false);
  });

  it("reads the entry of this attempt when its number was used before (a release gives it back; retry starts again)", () => {
    const job = jobWith(
      { attempt: 1, startedAt: at, finishedAt: at, outcome: "cancelled", error: CANCELLED },
      { attempt: 1, startedAt: later, finishedAt: later, outcome: "retry", error: declined },
    );
    expect(endedWith(job, 1, later, { type: "cancelled", error: CANCELLED })).toBe(false);
    expect(endedWith(job, 1, later, { type: "retry", error: declined, runAt: later })).toBe(true);
    expect(endedWith(job, 1, at, { type: "cancelled", error: CANCELLED })).toBe(true);
    // Without a start, the last entry of that number.
    expect(endedWith(job, 1, undefined, { type: "retry", error: declined, runAt: later })).toBe(true);
  });

  it("finds nothing for an attempt still running, or one the history does not hold", () => {
    const running = jobWith({ attempt: 1, startedAt: at });
    const outcome: Outcome = { type: "completed", result: { ok: true } };
    expect(endedWith(running, 1, at, outcome)).toBe(false);
    expect(endedWith(running, 2, at, outcome)).toBe(false);
    expect(endedWith(running, 1, later, outcome)).toBe(false);
    expect(endedWith(jobWith(), 1, at, outcome)).toBe(false);
  });
});
