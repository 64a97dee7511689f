import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { QueueClosedError, QueueError, SchemaNotMigratedError, StorageError, ValidationError } from "../../errors.js";
import type { JobId, JobRecord, LogEntry, NewLogLine } from "../../types.js";
import type {
  AttemptTransaction, CancelResult, ChangeListener, ClaimRequest, ClaimResult, DeleteFinishedRequest, ExpiredLease, FinishedJobIds, FinishedJobsQuery,
  FireScheduleRequest, FireScheduleResult, GraphDirection, HeartbeatResult, InsertRequest, InsertResult, JobCounts, Lease, ListPage, ListQuery,
  NewSchedule, RetryResult, SettleResult, Settlement, SqlTransaction, Storage, StoredSchedule, Unsubscribe,
} from "../storage.js";
import { PostgresAttemptTransaction, type AttemptSql } from "./attempt.js";
import { cancelJobs } from "./cancel.js";
import type { Published } from "./change-set.js";
import { claimJobs } from "./claim.js";
import { asDriverSql, beginGuarded, Pool } from "./driver.js";
import { heartbeat } from "./heartbeat.js";
import { InsertRace, insertJobs } from "./insert.js";
import { ChangeFeed, listenerApplicationName } from "./listener.js";
import { appendLogs, listLogs } from "./logs.js";
import { migrate } from "./migrations.js";
import { countJobs, findExpiredLeases, getJobs, listFinishedJobIds, listJobs, walkGraph } from "./reads.js";
import { deleteFinishedJobs } from "./retention.js";
import { retryJob } from "./retry.js";
import { toJobChange } from "./rows.js";
import { deleteSchedule, fireSchedule, listSchedules, putSchedule } from "./schedules.js";
import { settle, settleIn, waitingInPieces } from "./settle.js";
import { optionsSchema, type PostgresStorageOptions } from "./storage-options.js";
import type { Db } from "./sql/fragments.js";
import type { Notice } from "./sql/notify.js";
import type { StoreContext } from "./store-context.js";
import { assertNoResultTransform } from "./result-transform.js";
import { markAttemptTransaction } from "./sql/attempt-mark.js";
import { limitLockWait, lockFreeJobs } from "./sql/lock-affected.js";
import { retryTransient } from "./transient.js";

export type { AttemptSql } from "./attempt.js";
export type { PostgresSql } from "./driver.js";
export { attemptSql } from "./attempt.js";
export { listenerApplicationName } from "./listener.js";
export { MIGRATIONS, LATEST_VERSION } from "./migrations.js";
export type { PostgresStorageOptions } from "./storage-options.js";

/**
 * The caller's transaction accepted by `insertJobs({ tx })`: the `sql` inside `sql.begin(sql => ...)`,
 * of postgres.js 3.4 or 4 (a shape both fit, see `SqlTransaction`).
 */
export type PostgresTransaction = SqlTransaction;

/** jobgraph's store on PostgreSQL (postgres.js); every ownership decision is judged by the database clock. */
export class PostgresStorage implements Storage {
  /** The schema holding the tables. */
  readonly schema: string;
  /** The NOTIFY channel of this schema. */
  readonly channel: string;
  /** This store's part of the tags on the notifications of its own writes (see `Notice`). */
  private readonly sender = randomBytes(6).toString("hex");
  /** Writes tagged so far: each gets the next number. */
  private writes = 0;
  /** The pool, its deadlines and its replacement: everything that knows postgres.js. */
  private readonly pool: Pool;
  private readonly feed: ChangeFeed;
  /** What the operations (insert.ts, claim.ts, settle.ts, ...) run on. */
  private readonly store: StoreContext;
  private closed = false;

  constructor(options: PostgresStorageOptions = {}) {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new ValidationError(
        "invalid PostgresStorage options",
        parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
      );
    }
    const { connectionString, sql, schema, max, listen, listenerCheckMs, listenerTimeoutMs, idleInTransactionTimeoutMs, callTimeoutMs } = parsed.data;
    if (sql !== undefined) assertNoResultTransform(sql, "sql");
    this.schema = schema;
    this.channel = `jobgraph_${schema}`;
    this.pool = new Pool({ connectionString, sql: sql === undefined ? undefined : asDriverSql(sql), max, idleInTransactionTimeoutMs, callTimeoutMs });
    this.feed = new ChangeFeed(this.pool.sql, { channel: this.channel, sender: this.sender }, listen, { checkMs: listenerCheckMs, timeoutMs: listenerTimeoutMs }, listenerApplicationName(schema));
    this.store = {
      schema,
      lockWaitMs: callTimeoutMs > 0 ? Math.max(1, Math.floor(callTimeoutMs / 2)) : undefined,
      nextNotice: () => ({ channel: this.channel, sender: `${this.sender}.${++this.writes}|` }),
      untaggedNotice: { channel: this.channel, sender: "" },
      guard: (work, what, bounded) => this.guard(work, what, bounded),
      transaction: (sql, work, lockWaitMs) => this.transaction(sql, work, lockWaitMs),
      publish: (changes, notice) => this.publish(changes, notice),
    };
  }

  async setup(): Promise<void> {
    this.assertOpen();
    // Unbounded: a migration may wait on the advisory lock while another process migrates.
    await this.guard((sql) => migrate(<T>(fn: (tx: Db) => Promise<T>) => beginGuarded(sql, (tx) => fn(tx)), this.schema), "migrate", false);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.feed.close();
    await this.pool.end(5);
  }

  /**
   * Replaces this store's pool with a fresh one and destroys the old one's sockets, failing what
   * still waits on them. For connections that stopped answering without closing (a half-open
   * network); a pool the application passed as `sql` is its own to manage and is left alone.
   */
  resetConnections(): void {
    if (!this.closed) this.pool.replace();
  }

  async insertJobs(request: InsertRequest): Promise<InsertResult> {
    this.assertOpen();
    return insertJobs(this.store, request);
  }

  async claimJobs(request: ClaimRequest): Promise<ClaimResult> {
    this.assertOpen();
    return claimJobs(this.store, request);
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number, _now?: Date): Promise<readonly HeartbeatResult[]> {
    this.assertOpen();
    return heartbeat(this.store, leases, leaseMs);
  }

  async settle(settlements: readonly Settlement[], _now?: Date): Promise<readonly SettleResult[]> {
    this.assertOpen();
    return settle(this.store, settlements);
  }

  async findExpiredLeases(_now: Date, limit: number): Promise<readonly ExpiredLease[]> {
    this.assertOpen();
    return findExpiredLeases(this.store, limit);
  }

  async cancelJobs(ids: readonly JobId[], _now?: Date): Promise<CancelResult> {
    this.assertOpen();
    return cancelJobs(this.store, ids);
  }

  async retryJob(id: JobId, _now?: Date): Promise<RetryResult> {
    this.assertOpen();
    return retryJob(this.store, id);
  }

  async getJob(id: JobId): Promise<JobRecord | undefined> {
    const [job] = await this.getJobs([id]);
    return job;
  }

  async getJobs(ids: readonly JobId[]): Promise<readonly JobRecord[]> {
    this.assertOpen();
    return getJobs(this.store, ids);
  }

  async listJobs(query: ListQuery): Promise<ListPage> {
    this.assertOpen();
    return listJobs(this.store, query);
  }

  async countJobs(): Promise<JobCounts> {
    this.assertOpen();
    return countJobs(this.store);
  }

  async listFinishedJobIds(query: FinishedJobsQuery): Promise<FinishedJobIds> {
    this.assertOpen();
    return listFinishedJobIds(this.store, query);
  }

  async walkGraph(id: JobId, direction: GraphDirection, limit: number): Promise<readonly JobId[]> {
    this.assertOpen();
    return walkGraph(this.store, id, direction, limit);
  }

  async deleteFinishedJobs(request: DeleteFinishedRequest): Promise<number> {
    this.assertOpen();
    return deleteFinishedJobs(this.store, request);
  }

  async appendLogs(lines: readonly NewLogLine[]): Promise<void> {
    this.assertOpen();
    return appendLogs(this.store, lines);
  }

  async listLogs(jobId: JobId): Promise<readonly LogEntry[]> {
    this.assertOpen();
    return listLogs(this.store, jobId);
  }

  async putSchedule(schedule: NewSchedule): Promise<StoredSchedule> {
    this.assertOpen();
    return putSchedule(this.store, schedule);
  }

  async deleteSchedule(name: string): Promise<boolean> {
    this.assertOpen();
    return deleteSchedule(this.store, name);
  }

  async listSchedules(): Promise<readonly StoredSchedule[]> {
    this.assertOpen();
    return listSchedules(this.store);
  }

  async fireSchedule(request: FireScheduleRequest): Promise<FireScheduleResult> {
    this.assertOpen();
    return fireSchedule(this.store, request);
  }

  subscribe(listener: ChangeListener): Unsubscribe {
    this.assertOpen();
    return this.feed.subscribe(listener);
  }

  openAttemptTransaction(lease: Lease): AttemptTransaction & { readonly handle: AttemptSql } {
    this.assertOpen();
    const sql = this.pool.sql;
    return new PostgresAttemptTransaction(
      sql,
      lease,
      () => this.pool.closes,
      () => this.resetConnections(),
      // A commit unanswered replaces the pool it runs on, if that is still the current one.
      (work, what) => this.pool.within(work, what, sql),
      async (tx, settlement, answered) => {
        const heldLease = settlement.lease;
        const notice = this.store.nextNotice();
        const settle = (sql: postgres.TransactionSql) => settleIn(sql, this.schema, notice, [settlement]);
        const { lockWaitMs } = this.store;
        // The settle waits for a row another transaction holds (a dependent it unblocks) in pieces of
        // the store's lock wait, as a settle outside the transaction does, each in a savepoint (a piece
        // that gives up undoes only itself; the handler's writes stay) and answered within the commit's
        // deadline, which so never replaces the pool under every other attempt. The job's own row is
        // locked first, outside the pieces, when free: held throughout, no rescue of its lease (which
        // the heartbeat cannot renew meanwhile) takes the job between two pieces. Both go ahead of the
        // settle, not waited for on their own (the handler's statements, all answered by now, were not bounded).
        const prelude =
          lockWaitMs === undefined ? [] : [limitLockWait(tx, lockWaitMs).execute(), lockFreeJobs(tx, this.schema, [heldLease.jobId]).execute()];
        for (const statement of prelude) statement.catch(() => undefined);
        const done = lockWaitMs === undefined ? await settle(tx) : await waitingInPieces(lockWaitMs, () => tx.savepoint(settle), async () => answered());
        await Promise.all(prelude);
        const result = done.value[0] ?? { type: "lost", jobId: heldLease.jobId };
        return { result, publish: () => this.publish(done.changes, notice) };
      },
      async (settlement: Settlement) => {
        const [result] = await this.settle([settlement]);
        return result ?? { type: "lost", jobId: settlement.lease.jobId };
      },
      (tx, heldLease) => void markAttemptTransaction(tx, this.schema, heldLease.jobId).execute().catch(() => undefined),
    );
  }

  /** After the commit of a write of its own: its changes, for the feed to deliver (see `ChangeFeed.publishOwn`). */
  private publish(changes: Published, notice: Notice): void {
    if (changes.length === 0) return;
    const at = new Date();
    this.feed.publishOwn(
      notice.sender,
      changes.map((change) => toJobChange(change, at)),
    );
  }

  /**
   * A transaction of our own, run again from the start (a few times, after a short jittered
   * pause) when PostgreSQL aborts it as a deadlock victim or a serialization failure: nothing of
   * it was committed, and every settle in it is a CAS on its lease, so running it again is safe.
   */
  private transaction<T>(sql: postgres.Sql, work: (tx: postgres.TransactionSql) => Promise<T>, lockWaitMs = this.store.lockWaitMs): Promise<T> {
    if (lockWaitMs === undefined) return retryTransient(() => beginGuarded(sql, work));
    return retryTransient(() =>
      beginGuarded(sql, async (tx) => {
        // Sent ahead of the work's first statement, not waited for on its own: no round trip added.
        const limited = limitLockWait(tx, lockWaitMs).execute();
        limited.catch(() => undefined);
        const result = await work(tx);
        await limited;
        return result;
      }),
    );
  }

  /** Whether the change feed's LISTEN is in place right now. */
  get listening(): boolean {
    return this.feed.listening;
  }

  /**
   * Runs database work on the current pool, bounded by the call deadline unless `bounded` is false;
   * anything but our own typed errors becomes a `StorageError`.
   */
  private async guard<T>(work: (sql: postgres.Sql) => Promise<T>, what: string, bounded = true): Promise<T> {
    try {
      return await this.pool.run(work, what, bounded);
    } catch (err) {
      throw toStorageError(err, this.schema);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new QueueClosedError("the storage is closed");
  }
}

/**
 * Our own errors pass through; a driver error is wrapped, its text kept only as the `cause`. A
 * missing table or schema of this store (undefined_table 42P01, invalid_schema_name 3F000) means
 * nobody migrated: a `SchemaNotMigratedError` that says so.
 */
function toStorageError(err: unknown, schema: string): Error {
  if (err instanceof QueueError || err instanceof InsertRace) return err;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (isMissingSchema(code, (err as { message?: unknown }).message, schema)) return new SchemaNotMigratedError(schema, err);
  return new StorageError(`PostgreSQL operation failed${typeof code === "string" ? ` (${code})` : ""}`, err);
}

/** Whether `code` and `message` say that a table of `schema`, or `schema` itself, does not exist. */
function isMissingSchema(code: unknown, message: unknown, schema: string): boolean {
  if (typeof message !== "string") return false;
  if (code === "42P01") return message.includes(`"${schema}.`);
  if (code === "3F000") return message.includes(`"${schema}"`);
  return false;
}
