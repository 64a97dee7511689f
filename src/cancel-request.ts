import type { Outcome } from "./storage/storage.js";
import type { ErrorInfo, JobRecord } from "./types.js";

/** The error stored on a running job that was cancelled. */
export const CANCELLED: ErrorInfo = { name: "CancelledError", message: "cancelled while running", code: "CANCELLED" };

/** The outcome of an attempt that stopped because its job's cancel was requested. */
export const CANCELLED_OUTCOME: Outcome = { type: "cancelled", error: CANCELLED };

/**
 * The outcome a store applies, for an attempt's `outcome`, to a job whose cancel was requested while
 * the attempt ran (`cancel` of a running job only asks): a retry, or a release at shutdown or by the
 * rescuer, would run the job again against the request, so the job is cancelled instead and its
 * waiting dependents with it. A completion or a failure stands: the attempt ended before it stopped.
 */
export function outcomeUnderCancelRequest(outcome: Outcome): Outcome {
  return outcome.type === "retry" || outcome.type === "interrupted" ? CANCELLED_OUTCOME : outcome;
}

/** The outcome a store applied for `outcome`, seen from the job it answered (see `outcomeUnderCancelRequest`). */
export function appliedOutcome(outcome: Outcome, job: JobRecord): Outcome {
  return job.status === "cancelled" ? outcomeUnderCancelRequest(outcome) : outcome;
}
