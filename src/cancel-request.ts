import type { Outcome } from "./storage/storage.js";
import type { ErrorInfo, JobRecord } from "./types.js";

/** The error stored on a running job that was cancelled. */
export const CANCELLED: ErrorInfo = { name: "CancelledError", message: "cancelled while running", code: "CANCELLED" };

/**
 * The error stored on a job whose cancel was requested while it ran and whose expired lease was
 * rescued: its worker never stored the attempt's end. Told apart from `CANCELLED`, so that a worker
 * reading the job back after a lost answer does not take the rescue's cancel for its own.
 */
export const CANCELLED_AT_RESCUE: ErrorInfo = {
  name: "CancelledError",
  message: "cancelled while running; its worker stopped renewing its lease",
  code: "CANCELLED",
};

/**
 * The outcome a store applies, for an attempt's `outcome`, to a job whose cancel was requested while
 * the attempt ran (`cancel` of a running job only asks): a retry, or a release at shutdown or by the
 * rescuer, would run the job again against the request, so the job is cancelled instead and its
 * waiting dependents with it. A completion or a failure stands: the attempt ended before it stopped.
 */
export function outcomeUnderCancelRequest(outcome: Outcome, rescue: boolean): Outcome {
  if (outcome.type !== "retry" && outcome.type !== "interrupted") return outcome;
  return { type: "cancelled", error: rescue ? CANCELLED_AT_RESCUE : CANCELLED };
}

/**
 * The outcome a store applied for `outcome`, read off the job its settle answered (the row as that
 * settle left it: see `outcomeUnderCancelRequest`).
 */
export function appliedOutcome(outcome: Outcome, job: JobRecord, rescue: boolean): Outcome {
  return job.status === "cancelled" ? outcomeUnderCancelRequest(outcome, rescue) : outcome;
}
