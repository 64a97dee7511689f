import postgres from "postgres";
import { z } from "zod";
import { JobNotFoundError, QueueClosedError, QueueError, SchemaNotMigratedError, StorageError, ValidationError } from "../../errors.js";
import { JOB_STATUSES, PRIORITIES } from "../../types.js";
import type { JobChange, JobId, JobRecord, JobStatus, LogEntry, NewLogLine, Priority } from "../../types.js";
import type {
  AttemptTransaction, CancelResult, ChangeListener, ClaimRequest, ClaimResult, DeleteFinishedRequest, ExpiredLease, FinishedJobIds, FinishedJobsQuery,
  FireScheduleRequest, FireScheduleResult, GraphDirection, HeartbeatResult, InsertRequest, InsertResult, JobCounts, Lease, ListPage, ListQuery,
  NewSchedule, Outcome, RetryResult, SettleResult, Settlement, SqlTransaction, Storage, StoredSchedule, Unsubscribe,
} from "../storage.js";
import { PostgresAttemptTransaction, type AttemptSql } from "./attempt.js";
import { claimIn, claimSimple, insertIn, insertSimple, InsertRace, isUuid, settleIn, settleSimply, settlesSimply, type Published } from "./writes.js";
import { runPipelined } from "./pipelined.js";
import { cancelIn, retryIn } from "./graph-writes.js";
import { ChangeFeed, listenerApplicationName } from "./listener.js";
import { retryTransient } from "./transient.js";
import { asDriverSql, beginGuarded, Pool, type PostgresSql } from "./driver.js";
import { migrate } from "./migrations.js";
import { deriveJobLogs } from "../../job-history.js";
import { finishedJobIds } from "./sql/finished.js";
import { walkGraphIds } from "./sql/graph.js";
import { toHandlerLines, toJobHistory, toJobRecord, toLease } from "./rows.js";
import { fireScheduleIn, putSchedule, toSchedule } from "./schedules.js";
import * as s from "./sql/schedules.js";
import type { Db } from "./sql/fragments.js";
import { extendLeases } from "./sql/leases.js";
import { insertLogLines, selectHistory } from "./sql/logs.js";
import { countByStatusAndPriority, listJobRows, selectExistingIds, selectExpiredLeases, selectJobs } from "./sql/reads.js";
import { deleteFinishedJobs } from "./sql/retention.js";

export type { AttemptSql } from "./attempt.js";
export type { PostgresSql } from "./driver.js";
export { attemptSql } from "./attempt.js";
export { listenerApplicationName } from "./listener.js";
export { MIGRATIONS, LATEST_VERSION } from "./migrations.js";

/** Options of `PostgresStorage`. */
export interface PostgresStorageOptions {
  /** A PostgreSQL URL; one of `connectionString` and `sql` is required (`sql` wins when both are given). */
  readonly connectionString?: string | undefined;
  /** A postgres.js instance (3.4 or 4) the application already has; `close()` leaves it open. */
  readonly sql?: PostgresSql;
  /** The schema holding jobgraph's tables (default "jobgraph"), so one database can hold several queues. */
  readonly schema?: string;
  /** Pool size when this store creates the pool (default 10). */
  readonly max?: number;
  /** LISTEN for changes from every process (default true); false for PgBouncer transaction pooling. */
  readonly listen?: boolean;
  /** How often the listen connection is checked with a round trip (default 5,000 ms). */
  readonly listenerCheckMs?: number;
  /** How long LISTEN or a check may take before the listen connection is replaced (default 5,000 ms). */
  readonly listenerTimeoutMs?: number;
  /**
   * How long a session of this store's pool may sit idle inside a transaction before the server ends
   * it (default 60,000 ms; 0: never). A worker cut off mid-transaction leaves its session behind on the
   * server, holding row locks that would block the rescue of its jobs until the server notices.
   */
  readonly idleInTransactionTimeoutMs?: number;
  /**
   * How long one call of the store may go unanswered before it fails with a `StorageError` and the
   * store replaces its pool (default 30,000 ms; 0: no bound). A connection that stopped answering
   * without closing (a half-open network), or a driver that lost a request when a connection was
   * killed, would otherwise hold the call, and whoever waits on it, for good. Migrations are exempt.
   */
  readonly callTimeoutMs?: number;
}

/**
 * The caller's transaction accepted by `insertJobs({ tx })`: the `sql` inside `sql.begin(sql => ...)`,
 * of postgres.js 3.4 or 4 (a shape both fit, see `SqlTransaction`).
 */
export type PostgresTransaction = SqlTransaction;

const optionsSchema = z.object({
  connectionString: z.string().min(1).optional(),
  sql: z
    .custom<PostgresSql>((value) => typeof value === "function" && typeof (value as { begin?: unknown }).begin === "function", {
      message: "expected a postgres.js instance",
    })
    .optional(),
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,47}$/, "must be a lowercase identifier of at most 48 characters")
    .default("jobgraph"),
  max: z.number().int().min(1).max(1_000).default(10),
  listen: z.boolean().default(true),
  listenerCheckMs: z.number().int().min(10).max(600_000).default(5_000),
  listenerTimeoutMs: z.number().int().min(10).max(600_000).default(5_000),
  idleInTransactionTimeoutMs: z.number().int().min(0).max(2_147_483_647).default(60_000),
  callTimeoutMs: z.number().int().min(0).max(2_147_483_647).default(30_000),
}).refine((o) => o.connectionString !== undefined || o.sql !== undefined, {
  // Without either, postgres.js would connect to its defaults (PG* variables, else a database and
  // user named after the OS user): a missing URL would surface as a confusing connection error later.
  path: ["connectionString"],
  message: "give a connectionString (e.g. process.env.DATABASE_URL) or a postgres.js instance as sql",
});

/** Claim candidates fetched per priority level: room for admission to skip jobs that do not fit. */
const candidatesPerLevel = (limit: number) => Math.min(1_000, limit * 4 + 16);

/** jobgraph's store on PostgreSQL (postgres.js); every ownership decision is judged by the database clock. */
export class PostgresStorage implements Storage {
  /** The schema holding the tables. */
  readonly schema: string;
  /** The NOTIFY channel of this schema. */
  readonly channel: string;
  /** The pool, its deadlines and its replacement: everything that knows postgres.js. */
  private readonly pool: Pool;
  private readonly feed: ChangeFeed;
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
    this.schema = schema;
    this.channel = `jobgraph_${schema}`;
    this.pool = new Pool({ connectionString, sql: sql === undefined ? undefined : asDriverSql(sql), max, idleInTransactionTimeoutMs, callTimeoutMs });
    this.feed = new ChangeFeed(this.pool.sql, this.channel, listen, { checkMs: listenerCheckMs, timeoutMs: listenerTimeoutMs }, listenerApplicationName(schema));
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
    if (request.jobs.length === 0) return { jobs: [] };
    const tx = request.tx;
    if (tx !== undefined && !isTransaction(tx)) {
      throw new ValidationError("tx must be a postgres.js transaction: the sql that sql.begin passes to its callback");
    }
    if (tx === undefined) {
      const simple = await this.guard((sql) => retryTransient(() => insertSimple(sql, this.schema, this.channel, request)), "insert");
      if (simple !== undefined) {
        this.publish(simple.changes);
        return simple.value;
      }
    }
    // A concurrent insert can take an idempotency key between our check and our insert; the
    // insert then skips that row, rolls back and plans again, now seeing the holder.
    for (let round = 1; ; round++) {
      try {
        // Inside a caller's transaction the caller bounds the call: its connection is not ours to replace.
        const done = await this.guard(
          (sql) =>
            tx === undefined
              ? this.transaction(sql, (t) => insertIn(t, this.schema, this.channel, request))
              : tx.savepoint((t) => insertIn(t, this.schema, this.channel, request)),
          "insert",
          tx === undefined,
        );
        // Inside a caller's transaction the change is not durable yet; NOTIFY fires on its commit.
        if (tx === undefined) this.publish(done.changes);
        return done.value;
      } catch (err) {
        if (err instanceof InsertRace && round < 10) continue;
        throw err;
      }
    }
  }

  async claimJobs(request: ClaimRequest): Promise<ClaimResult> {
    this.assertOpen();
    if (request.limit <= 0 || request.types.length === 0) return { claimed: [], unschedulable: [] };
    const done = await this.guard(
      async (sql) =>
        (await retryTransient(() => claimSimple(sql, this.schema, this.channel, request))) ??
        this.transaction(sql, (t) => claimIn(t, this.schema, this.channel, request, candidatesPerLevel(request.limit))),
      "claim",
    );
    this.publish(done.changes);
    return done.value;
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number, _now?: Date): Promise<readonly HeartbeatResult[]> {
    this.assertOpen();
    if (leases.length === 0) return [];
    const wellFormed = leases.filter((lease) => isUuid(lease.jobId) && isUuid(lease.token));
    const rows = await this.guard(
      (sql) => retryTransient(() => extendLeases(sql, this.schema, wellFormed.map((lease) => ({ id: lease.jobId, token: lease.token })), leaseMs)),
      "heartbeat",
    );
    const held = new Map(rows.map((row) => [`${row.id}/${row.token}`, row.cancel_requested]));
    return leases.map(({ jobId, token }): HeartbeatResult => {
      const cancelRequested = held.get(`${jobId.toLowerCase()}/${token.toLowerCase()}`);
      return { jobId, state: cancelRequested === undefined ? "lost" : cancelRequested ? "cancel-requested" : "alive" };
    });
  }

  async settle(settlements: readonly Settlement[], _now?: Date): Promise<readonly SettleResult[]> {
    this.assertOpen();
    if (settlements.length === 0) return [];
    const done = await this.guard(
      (sql) =>
        settlesSimply(settlements)
          ? retryTransient(() => runPipelined(sql, (t) => settleSimply(t, this.schema, this.channel, settlements)))
          : this.transaction(sql, (t) => settleIn(t, this.schema, this.channel, settlements)),
      "settle",
    );
    this.publish(done.changes);
    return done.value;
  }

  async findExpiredLeases(_now: Date, limit: number): Promise<readonly ExpiredLease[]> {
    this.assertOpen();
    if (limit <= 0) return [];
    const rows = await this.guard((sql) => selectExpiredLeases(sql, this.schema, limit), "find expired leases");
    return rows.map((row) => ({ job: toJobRecord(row), lease: toLease(row) }));
  }

  async cancelJobs(ids: readonly JobId[], _now?: Date): Promise<CancelResult> {
    this.assertOpen();
    if (ids.length === 0) return { cancelled: [], cancelRequested: [], notFound: [] };
    const done = await this.guard((sql) => this.transaction(sql, (t) => cancelIn(t, this.schema, this.channel, ids)), "cancel");
    this.publish(done.changes);
    return done.value;
  }

  async retryJob(id: JobId, _now?: Date): Promise<RetryResult> {
    this.assertOpen();
    if (!isUuid(id)) throw new JobNotFoundError(id);
    const done = await this.guard((sql) => this.transaction(sql, (t) => retryIn(t, this.schema, this.channel, id)), "retry");
    this.publish(done.changes);
    return done.value;
  }

  async getJob(id: JobId): Promise<JobRecord | undefined> {
    const [job] = await this.getJobs([id]);
    return job;
  }

  async getJobs(ids: readonly JobId[]): Promise<readonly JobRecord[]> {
    this.assertOpen();
    const valid = [...new Set(ids)].filter(isUuid);
    if (valid.length === 0) return [];
    const rows = await this.guard((sql) => selectJobs(sql, this.schema, valid), "get jobs");
    return rows.map(toJobRecord);
  }

  async listJobs(query: ListQuery): Promise<ListPage> {
    this.assertOpen();
    const beforeSeq = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const limit = Math.floor(query.limit);
    if (!(limit >= 1)) return { jobs: [], nextCursor: undefined };
    // Past the largest bigint is no bound at all.
    const maxBytes = Math.min(Math.max(0, Math.floor(query.maxBytes ?? Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
    const rows = await this.guard(
      (sql) => listJobRows(sql, this.schema, { statuses: query.status ?? [], types: query.type ?? [], beforeSeq, limit, maxBytes }),
      "list jobs",
    );
    const last = rows.at(-1);
    const more = last !== undefined && last.scanned > rows.length;
    return { jobs: rows.map(toJobRecord), nextCursor: more ? encodeCursor(last.seq) : undefined };
  }

  async countJobs(): Promise<JobCounts> {
    this.assertOpen();
    const rows = await this.guard((sql) => countByStatusAndPriority(sql, this.schema), "count jobs");
    const byStatus = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    const pendingByPriority = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
    for (const row of rows) {
      const count = Number(row.count);
      byStatus[row.status] += count;
      const priority = PRIORITIES[row.priority];
      if (row.status === "pending" && priority !== undefined) pendingByPriority[priority] += count;
    }
    return { byStatus, pendingByPriority };
  }

  async listFinishedJobIds(query: FinishedJobsQuery): Promise<FinishedJobIds> {
    this.assertOpen();
    const limit = Math.floor(query.limit);
    if (!(limit >= 1) || query.status.length === 0) return { ids: [], nextCursor: undefined };
    const filter = {
      statuses: query.status,
      types: query.type ?? [],
      finishedAfter: query.finishedAfter ?? null,
      finishedBefore: query.finishedBefore ?? null,
      afterSeq: query.cursor === undefined ? null : decodeCursor(query.cursor),
      limit,
    };
    const rows = await this.guard(async (sql) => (await finishedJobIds(sql, this.schema, filter)) ?? [], "list finished jobs");
    const last = rows.at(-1);
    return { ids: rows.map((row) => row.id), nextCursor: rows.length >= limit && last !== undefined ? encodeCursor(last.seq) : undefined };
  }

  async walkGraph(id: JobId, direction: GraphDirection, limit: number): Promise<readonly JobId[]> {
    this.assertOpen();
    const bound = Math.floor(limit);
    if (!isUuid(id) || !(bound >= 1)) return [];
    const rows = await this.guard((sql) => walkGraphIds(sql, this.schema, id, direction, bound), "walk graph");
    return rows.map((row) => row.id);
  }

  async deleteFinishedJobs(request: DeleteFinishedRequest): Promise<number> {
    this.assertOpen();
    const limit = Math.max(0, Math.floor(request.limit));
    if (limit === 0) return 0;
    const retention = {
      completedBefore: request.completedBefore ?? null,
      failedBefore: request.failedBefore ?? null,
      cancelledBefore: request.cancelledBefore ?? null,
      limit,
    };
    const result = await this.guard((sql) => retryTransient(() => deleteFinishedJobs(sql, this.schema, retention)), "delete finished jobs");
    return result.count;
  }

  async appendLogs(lines: readonly NewLogLine[]): Promise<void> {
    this.assertOpen();
    if (lines.length === 0) return;
    const missing = lines.find((line) => !isUuid(line.jobId));
    if (missing !== undefined) throw new JobNotFoundError(missing.jobId);
    const rows = lines.map((line) => ({
      job_id: line.jobId,
      attempt: line.attempt,
      at: line.at.toISOString(),
      level: line.level,
      message: line.message,
      ...(line.data === undefined ? {} : { data: line.data }),
    }));
    try {
      await this.guard((sql) => insertLogLines(sql, this.schema, rows), "append logs");
    } catch (err) {
      if ((err as { cause?: { code?: unknown } }).cause?.code === "23503") {
        const ids = [...new Set(lines.map((line) => line.jobId))];
        const found = new Set((await this.guard((sql) => selectExistingIds(sql, this.schema, ids), "append logs")).map((row) => row.id));
        const unknown = ids.find((id) => !found.has(id));
        if (unknown !== undefined) throw new JobNotFoundError(unknown);
      }
      throw err;
    }
  }

  async listLogs(jobId: JobId): Promise<readonly LogEntry[]> {
    this.assertOpen();
    if (!isUuid(jobId)) return [];
    const [row] = await this.guard((sql) => selectHistory(sql, this.schema, jobId), "list logs");
    return row === undefined ? [] : deriveJobLogs(toJobHistory(row), toHandlerLines(row.lines));
  }

  async putSchedule(schedule: NewSchedule): Promise<StoredSchedule> {
    this.assertOpen();
    return this.guard((sql) => putSchedule(sql, this.schema, schedule), "put schedule");
  }

  async deleteSchedule(name: string): Promise<boolean> {
    this.assertOpen();
    const rows = await this.guard((sql) => s.deleteSchedule(sql, this.schema, name), "delete schedule");
    return rows.length > 0;
  }

  async listSchedules(): Promise<readonly StoredSchedule[]> {
    this.assertOpen();
    const rows = await this.guard((sql) => s.selectSchedules(sql, this.schema), "list schedules");
    return rows.map(toSchedule);
  }

  async fireSchedule(request: FireScheduleRequest): Promise<FireScheduleResult> {
    this.assertOpen();
    // As in insertJobs: a concurrent insert may take the tick's key between the plan and the insert.
    for (let round = 1; ; round++) {
      try {
        const done = await this.guard((sql) => this.transaction(sql, (t) => fireScheduleIn(t, this.schema, this.channel, request)), "fire schedule");
        this.publish(done.changes);
        return done.value;
      } catch (err) {
        if (err instanceof InsertRace && round < 10) continue;
        throw err;
      }
    }
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
      async (tx, heldLease, outcome) => {
        const done = await settleIn(tx, this.schema, this.channel, [{ lease: heldLease, outcome }]);
        const result = done.value[0] ?? { type: "lost", jobId: heldLease.jobId };
        return { result, publish: () => this.publish(done.changes) };
      },
      async (heldLease: Lease, outcome: Outcome) => {
        const [result] = await this.settle([{ lease: heldLease, outcome }]);
        return result ?? { type: "lost", jobId: heldLease.jobId };
      },
    );
  }

  /** After a commit: the in-process feed when LISTEN is off (with LISTEN, NOTIFY brings them back). */
  private publish(changes: Published): void {
    if (changes.length === 0) return;
    const at = new Date();
    this.feed.publishLocal(changes.map((change): JobChange => ({ ...change, at })));
  }

  /**
   * A transaction of our own, run again from the start (a few times, after a short jittered
   * pause) when PostgreSQL aborts it as a deadlock victim or a serialization failure: nothing of
   * it was committed, and every settle in it is a CAS on its lease, so running it again is safe.
   */
  private transaction<T>(sql: postgres.Sql, work: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
    return retryTransient(() => beginGuarded(sql, work));
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

function isTransaction(value: unknown): value is postgres.TransactionSql {
  return typeof value === "function" && typeof (value as { savepoint?: unknown }).savepoint === "function";
}

function encodeCursor(seq: string): string {
  return Buffer.from(seq).toString("base64url");
}

function decodeCursor(cursor: string): string {
  const seq = Buffer.from(cursor, "base64url").toString();
  if (!/^[0-9]{1,18}$/.test(seq)) {
    throw new ValidationError("invalid cursor", [{ path: "cursor", message: "not a cursor from listJobs" }]);
  }
  return seq;
}
