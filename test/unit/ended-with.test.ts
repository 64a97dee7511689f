import { describe, expect, it } from "vitest";
import { endedWith, LEASE_EXPIRED } from "../../src/scheduler/outcome.js";
import type { Outcome } from "../../src/storage/storage.js";
import type { AttemptRecord, JobRecord } from "../../src/types.js";

const at = new Date("2026-12-05T10:00:00Z");
const declined = { name: "Error", message: "card declined", code: "DECLINED" };

/** A job whose history is `attempts` (only the fields `endedWith` reads matter). */
const jobWith = (...attempts: AttemptRecord[]) => ({ attempts }) as unknown as JobRecord;

describe("endedWith: whether a job's history shows an attempt ended with an outcome", () => {
  it("matches the attempt's outcome type, and for a failure or a retry its error", () => {
    const job = jobWith(
      { attempt: 1, startedAt: at, finishedAt: at, outcome: "retry", error: declined },
      { attempt: 2, startedAt: at, finishedAt: at, outcome: "completed" },
    );
    expect(endedWith(job, 1, { type: "retry", error: declined, runAt: at })).toBe(true);
    expect(endedWith(job, 2, { type: "completed", result: null })).toBe(true);
    expect(endedWith(job, 1, { type: "completed", result: null })).toBe(false);
    expect(endedWith(job, 1, { type: "failed", error: declined })).toBe(false);
  });

  it("tells a rescue of the same attempt (LEASE_EXPIRED) from the worker's own failure", () => {
    const rescued = jobWith({ attempt: 1, startedAt: at, finishedAt: at, outcome: "failed", error: LEASE_EXPIRED });
    expect(endedWith(rescued, 1, { type: "failed", error: declined })).toBe(false);
    expect(endedWith(rescued, 1, { type: "failed", error: { name: declined.name, message: declined.message } })).toBe(false);
  });

  it("finds nothing for an attempt still running, or one the history does not hold", () => {
    const running = jobWith({ attempt: 1, startedAt: at });
    const outcome: Outcome = { type: "completed", result: { ok: true } };
    expect(endedWith(running, 1, outcome)).toBe(false);
    expect(endedWith(running, 2, outcome)).toBe(false);
    expect(endedWith(jobWith(), 1, outcome)).toBe(false);
  });
});
