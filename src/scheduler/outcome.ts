import { PermanentError, ValidationError, toErrorInfo } from "../errors.js";
import { hasAttemptsLeft, nextRunAt } from "../retry.js";
import type { Outcome } from "../storage/storage.js";
import { toStoredErrorInfo } from "../stored-text.js";
import type { ErrorInfo, JobRecord } from "../types.js";

/**
 * The outcome of an attempt that ended in `error`: failed at once for a `PermanentError` or a
 * `ValidationError` (a payload its own handler rejects, a result that is not JSON: retrying will
 * not make them better) or when no attempts are left, otherwise a retry at the backoff's next run
 * time. Never throws, whatever was thrown.
 */
export function failureOutcome(job: JobRecord, attempt: number, error: unknown, now: number): Outcome {
  return failureOutcomeOf(job, attempt, toErrorInfo(error), isPermanent(error), now);
}

/** `failureOutcome` for an error already reduced to its `ErrorInfo`; the error is stored as `toStoredErrorInfo` makes it. */
export function failureOutcomeOf(job: JobRecord, attempt: number, error: ErrorInfo, permanent: boolean, now: number): Outcome {
  const stored = toStoredErrorInfo(error);
  if (permanent || !hasAttemptsLeft(attempt, job.maxAttempts)) return { type: "failed", error: stored };
  return { type: "retry", error: stored, runAt: nextRunAt(job.backoff, attempt, now) };
}

function isPermanent(error: unknown): boolean {
  try {
    return error instanceof PermanentError || error instanceof ValidationError;
  } catch {
    return false; // a Proxy whose getPrototypeOf trap throws
  }
}

/**
 * The outcome of an attempt whose lease expired (its worker died, hung or lost its connection):
 * failed when no attempts are left, else pending again at the `runAt` it already had, so it keeps
 * its place in line among the jobs of its priority instead of queueing behind every job enqueued
 * since. No backoff: the worker failed, not necessarily the handler, and a rescue comes a lease
 * after the last heartbeat anyway, which spaces attempts that kill their workers.
 */
export function rescueOutcome(job: JobRecord, attempt: number): Outcome {
  if (!hasAttemptsLeft(attempt, job.maxAttempts)) return { type: "failed", error: LEASE_EXPIRED };
  return { type: "retry", error: LEASE_EXPIRED, runAt: new Date(job.runAt) };
}

/** The error stored on a job whose worker stopped renewing its lease. */
export const LEASE_EXPIRED: ErrorInfo = {
  name: "LeaseExpiredError",
  message: "the worker running this attempt stopped renewing its lease",
  code: "LEASE_EXPIRED",
};


/**
 * The entry of `job`'s history for the attempt numbered `attempt` that started at `startedAt` (the
 * claim's time, as the claimed record carries it): a number alone is not enough, since a release
 * gives the number back and a `retry` of the job starts counting again. Without a start, the last
 * entry of that number.
 */
function attemptEntry(job: JobRecord, attempt: number, startedAt: Date | undefined) {
  const numbered = job.attempts.filter((candidate) => candidate.attempt === attempt);
  if (startedAt === undefined) return numbered.at(-1);
  // Both are the claim's statement time; one may have been read from JSON text, the other not. Of
  // two entries that started then (a clock that stood still), this attempt's is the later.
  return numbered.filter((candidate) => Math.abs(candidate.startedAt.getTime() - startedAt.getTime()) <= 1).at(-1);
}

/**
 * Whether `job`'s history shows its attempt `attempt` ended with `outcome`: its type and, for a
 * failure, a retry or a cancel, the same error (a rescue of the same attempt stores LEASE_EXPIRED,
 * or CANCELLED_AT_RESCUE, instead). A completion or a release is only ever stored by the worker.
 */
export function endedWith(job: JobRecord, attempt: number, startedAt: Date | undefined, outcome: Outcome): boolean {
  const entry = attemptEntry(job, attempt, startedAt);
  if (entry?.outcome !== outcome.type) return false;
  if (outcome.type === "completed" || outcome.type === "interrupted") return true;
  const stored = entry.error;
  return stored !== undefined && stored.name === outcome.error.name && stored.message === outcome.error.message && stored.code === outcome.error.code;
}
