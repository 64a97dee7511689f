import type { ErrorInfo, JobStatus } from "../../types.js";
import * as q from "./queries.js";
import type { Db } from "./queries.js";
import { chunkNotifications, type StoredChange } from "./rows.js";

/** Changes a transaction made, to publish once it committed. */
export type Published = readonly StoredChange[];

/** A write's value and the changes it made. */
export interface Done<T> {
  readonly value: T;
  readonly changes: Published;
}

/**
 * Collects the status changes of one transaction, then writes their status log entries and
 * their notifications in one statement, inside that transaction.
 */
export class ChangeSet {
  private readonly logs: q.StatusLogRow[] = [];
  private readonly changes: StoredChange[] = [];

  /** A status change: logged (`data: { from, error? }`) and notified. */
  status(job: { id: string; type: string; status: JobStatus; attempt: number }, from: JobStatus | null, error?: ErrorInfo | null): void {
    const data = error === undefined || error === null ? { from } : { from, error };
    this.logs.push({ job_id: job.id, attempt: job.attempt, message: job.status, data });
    this.changes.push({ id: job.id, type: job.type, status: job.status, attempt: job.attempt });
  }

  /** A cancel request on a running job: notified, not logged (its status did not change). */
  cancelRequest(job: { id: string; type: string; status: JobStatus; attempt: number }): void {
    this.changes.push({ id: job.id, type: job.type, status: job.status, attempt: job.attempt, cancelRequested: true });
  }

  /** Writes the log entries and sends the notifications; returns what to publish after commit. */
  async record(sql: Db, schema: string, channel: string): Promise<Published> {
    if (this.changes.length > 0) await q.recordChanges(sql, schema, channel, this.logs, chunkNotifications(this.changes));
    return this.changes;
  }
}
