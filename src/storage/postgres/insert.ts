import type postgres from "postgres";
import { StorageError, ValidationError } from "../../errors.js";
import { planInsert } from "../../insert-plan.js";
import { PRIORITIES } from "../../types.js";
import type { ErrorInfo, JobId, JobStatus, Json, NewJob } from "../../types.js";
import type { InsertRequest, InsertResult, InsertedJob } from "../storage.js";
import { ChangeSet, type Done } from "./change-set.js";
import { isUuid } from "./is-uuid.js";
import { assertTransactionReadsAsStored } from "./result-transform.js";
import { toJobRecord } from "./rows.js";
import { jsonText, type Db } from "./sql/fragments.js";
import { insertEdges, insertJobRows, insertRunnableJobs, liveKeyHolders, lockExistingJobs, type EdgeRow, type InsertedRows, type JobInsertRow } from "./sql/insert.js";
import { selectJobs } from "./sql/reads.js";
import type { StoreContext } from "./store-context.js";
import { retryTransient } from "./transient.js";
import type { Notice } from "./sql/notify.js";

/** A live idempotency key was taken by a concurrent insert after we looked: plan again. */
export class InsertRace extends Error {}

/** `node` as the insert statements read it, with what its plan decided. */
function insertRow(
  node: NewJob, plan: { status: JobStatus; unfinished: number; error?: ErrorInfo | undefined; cause?: JobId | undefined },
): JobInsertRow {
  return {
    id: node.id, type: node.type, status: plan.status, priority: PRIORITIES.indexOf(node.priority), payload: jsonText(node.payload),
    max_attempts: node.maxAttempts, backoff: node.backoff, idempotency_key: node.idempotencyKey ?? null, resources: node.resources,
    timeout_ms: node.timeoutMs ?? null, run_at: node.runAt.toISOString(), pending_dependencies: plan.unfinished,
    error: plan.error ?? null, cancel_cause: plan.cause ?? null,
  };
}

/**
 * A batch of jobs without dependencies, inserted as one statement: no stored job can affect their
 * status. Answers undefined when the insert needs planning under locks instead: a live idempotency
 * key (or several keys in one batch, which must not half-succeed), or an id that already exists.
 */
async function insertSimple(sql: Db, schema: string, notice: Notice, request: InsertRequest, lockWaitMs: number | undefined): Promise<Done<InsertResult> | undefined> {
  const { jobs } = request;
  const keyed = jobs.filter((job) => job.idempotencyKey !== undefined).length;
  if (jobs.some((job) => job.dependsOn.length > 0) || (keyed > 0 && jobs.length > 1)) return undefined;
  if (new Set(jobs.map((job) => job.id)).size !== jobs.length || !jobs.every((job) => isUuid(job.id))) return undefined;
  const rows = jobs.map((node) => insertRow(node, { status: "pending", unfinished: 0 }));
  let inserted: InsertedRows | undefined;
  try {
    // A key that an open transaction has just taken makes the insert wait for that transaction: the
    // statement bounds the wait below the call deadline (`StoreContext.lockWaitMs`), and fails this
    // call alone rather than have the deadline replace the pool.
    [inserted] = await insertRunnableJobs(sql, schema, notice, rows, keyed > 0 ? lockWaitMs : undefined);
  } catch (err) {
    // An id that exists already: the planned insert reports it properly.
    if ((err as { code?: unknown }).code === "23505") return undefined;
    throw err;
  }
  if (inserted === undefined || inserted.inserted !== jobs.length) return undefined;
  const { at } = inserted;
  const records = jobs.map((job, i): InsertedJob => ({
    type: "inserted",
    job: {
      // The payload as jsonb keeps it: what JSON makes of it (dates as strings, no undefined members).
      // The id as PostgreSQL prints a uuid; times as stored (run_at as sent, in milliseconds).
      id: job.id.toLowerCase(), type: job.type, status: "pending", priority: job.priority, payload: JSON.parse(rows[i]!.payload) as Json, result: undefined,
      error: undefined, attempt: 0, maxAttempts: job.maxAttempts, backoff: { ...job.backoff }, dependsOn: [],
      idempotencyKey: job.idempotencyKey, resources: { ...job.resources }, timeoutMs: job.timeoutMs, runAt: new Date(job.runAt.getTime()),
      createdAt: new Date(at.getTime()), updatedAt: new Date(at.getTime()), startedAt: undefined, finishedAt: undefined, attempts: [],
    },
  }));
  const changes = records.map(({ job }) => ({ id: job.id, type: job.type, status: job.status, attempt: 0 }));
  return { value: { jobs: records }, changes };
}

/** Inserts a batch inside `sql` (a transaction or savepoint): plan under locks, then a few set-based statements. */
export async function insertIn(sql: Db, schema: string, notice: Notice, request: InsertRequest): Promise<Done<InsertResult>> {
  const { jobs, onDuplicate } = request;
  const batchIds = new Set(jobs.map((job) => job.id));
  if (batchIds.size !== jobs.length) throw new ValidationError("a job id appears twice in the batch");
  const malformed = jobs.find((job) => !isUuid(job.id));
  if (malformed !== undefined) throw new ValidationError(`job id is not a UUID: ${malformed.id}`);
  const referenced = [...new Set(jobs.flatMap((job) => job.dependsOn))].filter((id) => !batchIds.has(id));
  const lookup = [...referenced, ...batchIds].filter(isUuid);
  const stored = new Map((await lockExistingJobs(sql, schema, lookup)).map((row) => [row.id, row.status]));
  for (const id of batchIds) if (stored.has(id)) throw new ValidationError(`job id already exists: ${id}`);

  const keys = [...new Set(jobs.flatMap((job) => (job.idempotencyKey === undefined ? [] : [job.idempotencyKey])))];
  const holders = new Map<string, { id: JobId; status: JobStatus }>();
  if (keys.length > 0) {
    for (const row of await liveKeyHolders(sql, schema, keys)) {
      holders.set(row.idempotency_key, { id: row.id, status: row.status });
      stored.set(row.id, row.status);
    }
  }

  const plan = planInsert(jobs, onDuplicate, {
    stored: (id) => {
      const status = stored.get(id);
      return status === undefined ? undefined : { id, status };
    },
    liveHolder: (key) => holders.get(key),
  });
  const results: { type: InsertedJob["type"]; id: JobId }[] = [];
  const rows: JobInsertRow[] = [];
  const edges: EdgeRow[] = [];
  const changes = new ChangeSet();
  for (const entry of plan) {
    if (entry.type === "existing") {
      results.push({ type: "existing", id: entry.holder.id });
      continue;
    }
    const { node, status } = entry;
    rows.push(insertRow(node, { status, unfinished: entry.unfinished, error: entry.error, cause: entry.cause?.id }));
    entry.dependsOn.forEach((id, position) => edges.push({ job_id: node.id, depends_on_id: id, position }));
    results.push({ type: "inserted", id: node.id });
    changes.status({ id: node.id, type: node.type, status, attempt: 0 });
  }

  if (rows.length > 0) {
    const inserted = await insertJobRows(sql, schema, rows);
    if (inserted.length !== rows.length) throw new InsertRace("an idempotency key was taken concurrently");
  }
  if (edges.length > 0) await insertEdges(sql, schema, edges);
  const published = await changes.record(sql, notice);
  const records = new Map((await selectJobs(sql, schema, [...new Set(results.map((r) => r.id))])).map((row) => [row.id, toJobRecord(row)]));
  return {
    value: {
      jobs: results.map(({ type, id }): InsertedJob => {
        const job = records.get(id);
        if (job === undefined) throw new Error(`job ${id} vanished during its insert`);
        return { type, job };
      }),
    },
    changes: published,
  };
}

/** `PostgresStorage.insertJobs`: in one statement when it can, else planned under locks (in the caller's transaction when given). */
export async function insertJobs(store: StoreContext, request: InsertRequest): Promise<InsertResult> {
  if (request.jobs.length === 0) return { jobs: [] };
  const tx = request.tx;
  if (tx !== undefined && !isTransaction(tx)) {
    throw new ValidationError("tx must be a postgres.js transaction: the sql that sql.begin passes to its callback");
  }
  if (tx !== undefined) await store.guard(() => assertTransactionReadsAsStored(tx), "insert", false);
  const notice = store.nextNotice();
  if (tx === undefined) {
    const simple = await store.guard((sql) => retryTransient(() => insertSimple(sql, store.schema, notice, request, store.lockWaitMs)), "insert");
    if (simple !== undefined) {
      store.publish(simple.changes, notice);
      return simple.value;
    }
  }
  return plannedAgainOnRace("insert", async () => {
    // Inside a caller's transaction the caller bounds the call: its connection is not ours to replace.
    const done = await store.guard(
      (sql) =>
        tx === undefined
          ? store.transaction(sql, (t) => insertIn(t, store.schema, notice, request))
          : tx.savepoint((t) => insertIn(t, store.schema, store.untaggedNotice, request)),
      "insert",
      tx === undefined,
    );
    // Inside a caller's transaction the change is not durable yet; NOTIFY fires on its commit.
    if (tx === undefined) store.publish(done.changes, notice);
    return done.value;
  });
}

/**
 * `attempt` (a planned insert, rolled back whole on an `InsertRace`), run again while a concurrent
 * insert takes an idempotency key between the plan and the insert: the next plan sees the holder.
 * Ten races in a row end in a `StorageError`; nothing of them was written.
 */
export async function plannedAgainOnRace<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  for (let round = 1; ; round++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof InsertRace)) throw err;
      if (round >= 10) throw new StorageError(`${what}: an idempotency key was taken concurrently ${round} times in a row; nothing was inserted`, err);
    }
  }
}

function isTransaction(value: unknown): value is postgres.TransactionSql {
  return typeof value === "function" && typeof (value as { savepoint?: unknown }).savepoint === "function";
}
