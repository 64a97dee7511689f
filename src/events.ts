import type { ErrorInfo, Json, JobRecord } from "./types.js";

/** Every event a queue emits, with its one payload object. Listeners that throw are reported as `queue:error`. */
export interface QueueEvents {
  /**
   * The queue stored the job. With `tx` (enqueue inside the caller's transaction) it fires when the
   * insert returned, before the caller commits: if that transaction rolls back, the job never existed.
   */
  "job:enqueued": { readonly job: JobRecord };
  "job:started": { readonly job: JobRecord; readonly attempt: number };
  "job:completed": { readonly job: JobRecord; readonly result: Json | undefined; readonly runTimeMs: number };
  "job:retrying": { readonly job: JobRecord; readonly error: ErrorInfo; readonly attempt: number; readonly runAt: Date };
  "job:failed": { readonly job: JobRecord; readonly error: ErrorInfo; readonly attempt: number };
  "job:cancelled": { readonly job: JobRecord; readonly reason: "requested" | "dependency" };
  /** A timed-out handler has not returned `stuckGraceMs` after its signal aborted; its resources stay reserved. */
  "job:stuck": { readonly job: JobRecord; readonly attempt: number; readonly runningForMs: number };
  /** An attempt released by shutdown: back to pending, attempt not counted. */
  "job:interrupted": { readonly job: JobRecord; readonly attempt: number };
  /** Something failed in the background (a claim, a settle, a listener); with no listener it goes to the `logger` option. */
  "queue:error": { readonly error: unknown; readonly context: string };
  /** `shutdown()` finished: nothing of the queue runs, and the store is closed if the queue made it. */
  "queue:closed": Readonly<Record<string, never>>;
}

export type QueueEventName = keyof QueueEvents;
export type QueueListener<E extends QueueEventName> = (payload: QueueEvents[E]) => void;
