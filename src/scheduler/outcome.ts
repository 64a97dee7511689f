import { PermanentError, toErrorInfo } from "../errors.js";
import { hasAttemptsLeft, nextRunAt } from "../retry.js";
import type { Outcome } from "../storage/storage.js";
import type { ErrorInfo, JobRecord } from "../types.js";

/**
 * The outcome of an attempt that ended in `error`: failed at once for a `PermanentError` or
 * when no attempts are left, otherwise a retry at the backoff's next run time.
 */
export function failureOutcome(job: JobRecord, attempt: number, error: unknown, now: number): Outcome {
  return failureOutcomeOf(job, attempt, toErrorInfo(error), error instanceof PermanentError, now);
}

/** `failureOutcome` for an error already reduced to what is stored. */
export function failureOutcomeOf(job: JobRecord, attempt: number, error: ErrorInfo, permanent: boolean, now: number): Outcome {
  if (permanent || !hasAttemptsLeft(attempt, job.maxAttempts)) return { type: "failed", error };
  return { type: "retry", error, runAt: nextRunAt(job.backoff, attempt, now) };
}

/** The error stored on a job whose worker stopped renewing its lease. */
export const LEASE_EXPIRED: ErrorInfo = {
  name: "LeaseExpiredError",
  message: "the worker running this attempt stopped renewing its lease",
  code: "LEASE_EXPIRED",
};

/** The error stored on a running job that was cancelled. */
export const CANCELLED: ErrorInfo = { name: "CancelledError", message: "cancelled while running", code: "CANCELLED" };
