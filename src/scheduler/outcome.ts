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

/** The error stored on a job whose worker stopped renewing its lease. */
export const LEASE_EXPIRED: ErrorInfo = {
  name: "LeaseExpiredError",
  message: "the worker running this attempt stopped renewing its lease",
  code: "LEASE_EXPIRED",
};

/** The error stored on a running job that was cancelled. */
export const CANCELLED: ErrorInfo = { name: "CancelledError", message: "cancelled while running", code: "CANCELLED" };
