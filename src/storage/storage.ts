import type {
  ErrorInfo, Json, JobChange, JobId, JobRecord, JobStatus, LogEntry, NewJob, NewLogLine, Priority, Resources, ScheduleRecord,
} from "../types.js";

/**
 * THE SEAM between the core and persistence. The core decides (priorities, backoff, retry or
 * fail, admission); storage records those decisions atomically and owns only what must be
 * atomic with a write: unblocking and cascade-cancel, idempotency, and claims without double claims.
 *
 * Every method that changes a job's status also writes a `kind: "status"` log entry for it in
 * the same atomic step (`message`: the new status; `data`: `{ from: previous status or null,
 * error?: ErrorInfo }`; `attempt`: the job's attempt after the change), and publishes a `JobChange` to subscribers once the change is durable.
 * `now` is the core's clock; MemoryStorage judges time by it, PostgresStorage by the database
 * clock (so workers' clocks need not agree).
 */
export interface Storage {
  /** Creates or upgrades what the store needs (PostgreSQL: migrations). Idempotent. */
  setup(): Promise<void>;
  /** Releases connections and listeners. The store is unusable afterwards. */
  close(): Promise<void>;

  /**
   * Inserts jobs and their edges, all or nothing. Throws `UnknownDependencyError` (a `dependsOn`
   * id that is neither in the batch nor stored) or `DuplicateJobError` (a live job holds an
   * idempotency key and `onDuplicate` is "reject") and then changes nothing.
   * Jobs come in topological order: every in-batch dependency precedes its dependents.
   * A job starts `blocked` if any dependency is not completed, `cancelled` at once if one is
   * failed or cancelled, else `pending`.
   */
  insertJobs(request: InsertRequest): Promise<InsertResult>;

  /**
   * Leases up to `limit` runnable jobs (pending, `runAt <= now`, type in `types`), chosen by
   * `admitJobs` (src/resources.ts) from candidates in effective-priority order, so that what is
   * claimed fits `free`. Sets status running, `attempt + 1`, `startedAt`, a fresh lease token and
   * `leaseExpiresAt = now + leaseMs`. Two concurrent claims never return the same job.
   */
  claimJobs(request: ClaimRequest): Promise<ClaimResult>;

  /**
   * Optional: drops the store's pooled connections and connects afresh. The worker calls it when a
   * claim or heartbeat got no answer within a lease (a half-open connection never errors by itself).
   */
  resetConnections?(): void;

  /** Extends live leases; reports each as alive, lost (settled or rescued elsewhere) or cancel-requested. */
  heartbeat(leases: readonly Lease[], leaseMs: number, now: Date): Promise<readonly HeartbeatResult[]>;

  /**
   * Stores outcomes, each a compare-and-set on its lease token: a settle whose token no longer
   * matches a running job changes nothing and answers `lost`. In the same atomic step: on
   * completion, dependents whose dependencies are now all completed become pending; on
   * failed/cancelled, every transitive dependent still blocked or pending is cancelled.
   * Results come back in request order.
   */
  settle(settlements: readonly Settlement[], now: Date): Promise<readonly SettleResult[]>;

  /** Running jobs whose lease expired by `now`, oldest expiry first, for the rescuer to settle. */
  findExpiredLeases(now: Date, limit: number): Promise<readonly ExpiredLease[]>;

  /**
   * Cancels jobs: blocked/pending ones at once (and their transitive dependents); running ones
   * get a cancel request that their worker sees through the change feed or its heartbeat,
   * and settle as cancelled. Terminal jobs are left as they are. Unknown ids are reported.
   */
  cancelJobs(ids: readonly JobId[], now: Date): Promise<CancelResult>;

  /**
   * Makes a failed or cancelled job pending again with a fresh attempt budget (`attempt` back to
   * 0, error cleared), and brings its dependents that were cancelled because of it back to
   * blocked. Other statuses: `InvalidStateError`; unknown id: `JobNotFoundError`.
   */
  retryJob(id: JobId, now: Date): Promise<RetryResult>;

  getJob(id: JobId): Promise<JobRecord | undefined>;
  /** Jobs by id, in no particular order; unknown ids are left out. */
  getJobs(ids: readonly JobId[]): Promise<readonly JobRecord[]>;
  /** Newest first (by insertion order), filtered, bounded by count and bytes, with an opaque cursor to the next page. */
  listJobs(query: ListQuery): Promise<ListPage>;
  /** Jobs by status, and runnable-or-waiting pending jobs by priority. */
  countJobs(): Promise<JobCounts>;

  /**
   * Ids of finished jobs matching `query`, oldest first (by insertion order, so a job's dependencies
   * come before it), at most `limit`, with a cursor to the next page when the page is full. A job's
   * finish time is `finishedAt`, or `updatedAt` when it has none (as retention judges it).
   */
  listFinishedJobIds(query: FinishedJobsQuery): Promise<FinishedJobIds>;

  /**
   * The distinct jobs reachable from `id` along dependency edges, transitively, in one direction
   * (`dependencies`: what it waits for; `dependents`: what waits for it), nearest first, without
   * `id` itself, at most `limit`. An unknown id reaches nothing.
   */
  walkGraph(id: JobId, direction: GraphDirection, limit: number): Promise<readonly JobId[]>;

  /**
   * Retention: deletes jobs in the given terminal statuses whose `finishedAt` (for a cancelled job
   * that never ran: `updatedAt`) is older than that status's cutoff, with their logs and edges, at
   * most `limit` per call, oldest first. A job any of whose dependents is still blocked, pending or
   * running is kept, so `ctx.dependencies` stays readable; surviving dependents no longer list a
   * deleted job in `dependsOn`. Answers how many were deleted.
   */
  deleteFinishedJobs(request: DeleteFinishedRequest): Promise<number>;

  /** Stores handler log lines. Lines of an attempt that lost its lease are still kept. */
  appendLogs(lines: readonly NewLogLine[]): Promise<void>;
  /** A job's history in order: status changes and log lines, each with its attempt. */
  listLogs(jobId: JobId): Promise<readonly LogEntry[]>;

  /**
   * The change feed: a hint, possibly coalesced, possibly from other processes. `onReset` is
   * called when changes may have been missed (a reconnect; for PostgresStorage also once its first
   * LISTEN is in place, since changes before it went unheard), so the subscriber re-reads state.
   */
  subscribe(listener: ChangeListener): Unsubscribe;

  /**
   * Stores a schedule under its name; one of that name is replaced (its `lastRunAt` kept, its
   * revision moved on, so a fire planned from the old one is lost). A store never hands out a
   * revision twice, not even to a schedule created again after a delete. Answers the stored schedule.
   */
  putSchedule(schedule: NewSchedule): Promise<StoredSchedule>;
  /** Deletes a schedule; answers whether one of that name existed. */
  deleteSchedule(name: string): Promise<boolean>;
  /** Every schedule, by name. */
  listSchedules(): Promise<readonly StoredSchedule[]>;
  /**
   * Fires one tick, exactly once across workers: a compare-and-set on the schedule's revision (which
   * every put and fire moves, with its next run) sets `nextRunAt` (and `lastRunAt` when given), and
   * in the same atomic step inserts `job` as `insertJobs` does with `onDuplicate: "return-existing"`.
   * A revision that no longer matches (another worker fired, the schedule was replaced or deleted),
   * or a `tick` at or before the schedule's `lastRunAt` (a tick never fires twice), changes nothing
   * and answers `lost`.
   */
  fireSchedule(request: FireScheduleRequest): Promise<FireScheduleResult>;

  /**
   * Optional: a transaction bound to one attempt, opened on the handler's first use of its
   * `handle`, in which the completion is written (CAS on the lease). PostgresStorage implements it.
   */
  openAttemptTransaction?(lease: Lease): AttemptTransaction;
}

export interface ChangeListener {
  readonly onChange: (changes: readonly JobChange[]) => void;
  readonly onReset?: () => void;
}
export type Unsubscribe = () => void;

/**
 * A caller's transaction as `enqueue({ tx })` takes it: what postgres.js passes to the callback of
 * `sql.begin(tx => ...)` (its `TransactionSql`). Written as the shape jobgraph relies on, not as
 * postgres.js's type, so the core does not import postgres.js and any postgres.js `TransactionSql`
 * fits. A plain pool (`sql`) has no `savepoint` and does not: the insert must join a transaction.
 */
export interface SqlTransaction {
  (template: TemplateStringsArray, ...parameters: never[]): PromiseLike<unknown>;
  savepoint(...args: never[]): Promise<unknown>;
}

export interface InsertRequest {
  readonly jobs: readonly NewJob[];
  readonly onDuplicate: "reject" | "return-existing";
  readonly now: Date;
  /** A caller's transaction (PostgresStorage: a postgres.js `TransactionSql`); the insert joins it. */
  readonly tx?: SqlTransaction;
}

/** Per submitted job, in input order: the stored job, or the live job that already held its key. */
export interface InsertResult {
  readonly jobs: readonly InsertedJob[];
}
export type InsertedJob =
  | { readonly type: "inserted"; readonly job: JobRecord }
  | { readonly type: "existing"; readonly job: JobRecord };

export interface ClaimRequest {
  readonly workerId: string;
  /** Job types this worker has handlers for. */
  readonly types: readonly string[];
  /** Free attempt slots. */
  readonly limit: number;
  /** Resources free right now. */
  readonly free: Resources;
  /** The worker's whole capacity: jobs needing more are never claimed here. */
  readonly capacity: Resources;
  readonly starvationMs: number;
  readonly leaseMs: number;
  readonly now: Date;
}

/** A worker's right to settle one attempt. */
export interface Lease {
  readonly jobId: JobId;
  readonly token: string;
  readonly attempt: number;
}

export interface ClaimedJob {
  readonly job: JobRecord;
  readonly lease: Lease;
}

export interface ClaimResult {
  readonly claimed: readonly ClaimedJob[];
  /** Runnable candidates seen that need more than the whole capacity. */
  readonly unschedulable: readonly JobId[];
  /**
   * Optional. When the claim leased fewer than `limit`: how long until the earliest pending job of
   * the asked types that is not yet due becomes due, by the store's clock (absent: none, or not
   * reported). The worker wakes then, on time whoever enqueued the job and whatever its own clock says.
   */
  readonly nextDueInMs?: number;
}

export interface HeartbeatResult {
  readonly jobId: JobId;
  readonly state: "alive" | "lost" | "cancel-requested";
}

/** How an attempt ended, as decided by the core. */
export type Outcome =
  | { readonly type: "completed"; readonly result: Json }
  | { readonly type: "retry"; readonly error: ErrorInfo; readonly runAt: Date }
  | { readonly type: "failed"; readonly error: ErrorInfo }
  | { readonly type: "cancelled"; readonly error: ErrorInfo }
  /** Released by shutdown: back to pending, the attempt given back. */
  | { readonly type: "interrupted" };

export interface Settlement {
  readonly lease: Lease;
  readonly outcome: Outcome;
  /**
   * The job as its lease was claimed (the claim's or the expired lease's record), when the caller has
   * it: a store may build the settled record from it and what the settle changed, instead of reading
   * the whole row back.
   */
  readonly job?: JobRecord;
  /**
   * Set for a lease found expired (the rescuer's): the settle applies only if the lease is still
   * expired, by the store's clock, when the settle runs. A heartbeat that renewed it after it was
   * found wins, and the settle reports `lost`: the worker that renewed it keeps the job.
   */
  readonly onlyIfExpired?: boolean;
}

export type SettleResult =
  | {
      readonly type: "settled";
      readonly job: JobRecord;
      /** Dependents that became pending. */
      readonly unblocked: readonly JobId[];
      /** Dependents cancelled by the cascade. */
      readonly cancelled: readonly JobId[];
    }
  | { readonly type: "lost"; readonly jobId: JobId };

export interface ExpiredLease {
  readonly job: JobRecord;
  readonly lease: Lease;
}

export interface CancelResult {
  /** Jobs that are now cancelled, cascaded dependents included. */
  readonly cancelled: readonly JobId[];
  /** Running jobs asked to stop. */
  readonly cancelRequested: readonly JobId[];
  readonly notFound: readonly JobId[];
}

export interface RetryResult {
  readonly job: JobRecord;
  /** Dependents brought back from cancelled to blocked. */
  readonly revived: readonly JobId[];
}

/** Cutoffs per terminal status (a status without one is kept) and the most jobs to delete in one call. */
export interface DeleteFinishedRequest {
  readonly completedBefore?: Date;
  readonly failedBefore?: Date;
  readonly cancelledBefore?: Date;
  readonly limit: number;
}

export interface ListQuery {
  readonly status?: readonly JobStatus[];
  readonly type?: readonly string[];
  readonly limit: number;
  readonly cursor?: string;
  /**
   * A page also ends before the job that would take the sum of its jobs' sizes past `maxBytes`
   * (a job's size: the UTF-8 JSON text of its payload, result and error), yet always holds at
   * least one job, so paging moves on. Undefined: bounded by `limit` only. The text is the store's
   * own: compact (`JSON.stringify`) in MemoryStorage; in PostgresStorage the jsonb as PostgreSQL
   * prints it, a space after each `:` and `,`, so a page there may end a job sooner, never later.
   */
  readonly maxBytes?: number;
}

export interface ListPage {
  readonly jobs: readonly JobRecord[];
  readonly nextCursor: string | undefined;
}

/** Which way `walkGraph` follows the edges. */
export type GraphDirection = "dependencies" | "dependents";

export interface FinishedJobsQuery {
  /** Terminal statuses to match; any other matches nothing. */
  readonly status: readonly JobStatus[];
  /** Job types to match; undefined or empty: every type. */
  readonly type?: readonly string[];
  /** Inclusive lower bound of the finish time. */
  readonly finishedAfter?: Date;
  /** Exclusive upper bound of the finish time. */
  readonly finishedBefore?: Date;
  readonly limit: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

export interface FinishedJobIds {
  readonly ids: readonly JobId[];
  readonly nextCursor: string | undefined;
}

export interface JobCounts {
  readonly byStatus: Readonly<Record<JobStatus, number>>;
  /** Pending jobs per priority: the queue length. */
  readonly pendingByPriority: Readonly<Record<Priority, number>>;
}

/** An attempt-bound transaction; see `Storage.openAttemptTransaction`. */
export interface AttemptTransaction {
  /** What the handler sees as `ctx.tx`. */
  readonly handle: unknown;
  /** Whether the handler used it. */
  readonly opened: boolean;
  /**
   * Writes the outcome inside the transaction and commits; `lost` rolls everything back. `job`: the
   * job as its lease was claimed, when the caller has it (as `Settlement.job`).
   */
  commit(outcome: Outcome, now: Date, job?: JobRecord): Promise<SettleResult>;
  /** Rolls back whatever the handler wrote. */
  rollback(): Promise<void>;
  /** The handler returned: from now on `handle` refuses statements (commit or rollback still end the transaction). */
  seal(): void;
}

/** A schedule as the core hands it to storage: parsed, its first tick planned. */
export type NewSchedule = Omit<ScheduleRecord, "lastRunAt">;

/** A schedule as stored, with the revision that `fireSchedule` compares and sets. */
export interface StoredSchedule extends ScheduleRecord {
  readonly revision: number;
}

/** One tick to fire, as planned by the core (`planTick`) from the schedule at `revision`. */
export interface FireScheduleRequest {
  readonly name: string;
  readonly revision: number;
  /** The schedule's next run after this fire. */
  readonly nextRunAt: Date | undefined;
  /** The tick enqueued (becomes `lastRunAt`); undefined when missed ticks are skipped. */
  readonly tick: Date | undefined;
  /** The tick's job; undefined when nothing is enqueued. */
  readonly job: NewJob | undefined;
  readonly now: Date;
}

export type FireScheduleResult =
  | { readonly type: "fired"; readonly schedule: StoredSchedule; readonly job: InsertedJob | undefined }
  | { readonly type: "lost" };
