import type { JobStatus } from "../../types.js";
import { chunkNotifications, type StoredChange } from "./rows.js";
import type { Db } from "./sql/fragments.js";
import { notifyChanges, type Notice } from "./sql/notify.js";

/** Changes a transaction made, to publish once it committed. */
export type Published = readonly StoredChange[];

/** A write's value and the changes it made. */
export interface Done<T> {
  readonly value: T;
  readonly changes: Published;
}

/**
 * Collects the status changes of one transaction, then sends their notifications in one
 * statement inside that transaction (the history is in the rows the statements changed).
 */
export class ChangeSet {
  private readonly changes: StoredChange[] = [];

  /** A status change: notified. */
  status(job: { id: string; type: string; status: JobStatus; attempt: number }): void {
    this.changes.push({ id: job.id, type: job.type, status: job.status, attempt: job.attempt });
  }

  /** A cancel request on a running job: notified with its flag (its status did not change). */
  cancelRequest(job: { id: string; type: string; status: JobStatus; attempt: number }): void {
    this.changes.push({ id: job.id, type: job.type, status: job.status, attempt: job.attempt, cancelRequested: true });
  }

  /** Sends the notifications; returns what to publish after commit. */
  async record(sql: Db, notice: Notice): Promise<Published> {
    if (this.changes.length > 0) await notifyChanges(sql, notice, chunkNotifications(this.changes));
    return this.changes;
  }
}
