import { decodePageCursor, encodePageCursor } from "../../page-cursor.js";
import { JOB_STATUSES, PRIORITIES } from "../../types.js";
import type { JobId, JobRecord, JobStatus, Priority } from "../../types.js";
import type { ExpiredLease, FinishedJobIds, FinishedJobsQuery, GraphDirection, JobCounts, ListPage, ListQuery } from "../storage.js";
import { isUuid } from "./is-uuid.js";
import { toJobRecord, toLease } from "./rows.js";
import { finishedJobIds } from "./sql/finished.js";
import { walkGraphIds } from "./sql/graph.js";
import { countByStatusAndPriority, listJobRows, selectExpiredLeases, selectJobs } from "./sql/reads.js";
import type { StoreContext } from "./store-context.js";

// The store's reads: jobs by id, pages of a listing, counts, finished jobs for a redrive, a job's
// graph, and the leases that expired.

/** `PostgresStorage.getJobs`: the stored jobs among `ids`. */
export async function getJobs(store: StoreContext, ids: readonly JobId[]): Promise<readonly JobRecord[]> {
  const valid = [...new Set(ids)].filter(isUuid);
  if (valid.length === 0) return [];
  const rows = await store.guard((sql) => selectJobs(sql, store.schema, valid), "get jobs");
  return rows.map(toJobRecord);
}

/** `PostgresStorage.listJobs`: a page of jobs, newest first, bounded by count and by bytes. */
export async function listJobs(store: StoreContext, query: ListQuery): Promise<ListPage> {
  const beforeSeq = query.cursor === undefined ? null : decodePageCursor(query.cursor).toString();
  const limit = Math.floor(query.limit);
  if (!(limit >= 1)) return { jobs: [], nextCursor: undefined };
  // Past the largest bigint is no bound at all.
  const maxBytes = Math.min(Math.max(0, Math.floor(query.maxBytes ?? Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  const rows = await store.guard(
    (sql) => listJobRows(sql, store.schema, { statuses: query.status ?? [], types: query.type ?? [], beforeSeq, limit, maxBytes }),
    "list jobs",
  );
  const last = rows.at(-1);
  const more = last !== undefined && last.scanned > rows.length;
  return { jobs: rows.map(toJobRecord), nextCursor: more ? encodePageCursor(BigInt(last.seq)) : undefined };
}

/** `PostgresStorage.countJobs`: jobs by status, and pending ones by priority. */
export async function countJobs(store: StoreContext): Promise<JobCounts> {
  const rows = await store.guard((sql) => countByStatusAndPriority(sql, store.schema), "count jobs");
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

/** `PostgresStorage.listFinishedJobIds`: a page of finished jobs' ids in insertion order, for a redrive. */
export async function listFinishedJobIds(store: StoreContext, query: FinishedJobsQuery): Promise<FinishedJobIds> {
  const limit = Math.floor(query.limit);
  if (!(limit >= 1) || query.status.length === 0) return { ids: [], nextCursor: undefined };
  const filter = {
    statuses: query.status,
    types: query.type ?? [],
    finishedAfter: query.finishedAfter ?? null,
    finishedBefore: query.finishedBefore ?? null,
    afterSeq: query.cursor === undefined ? null : decodePageCursor(query.cursor).toString(),
    limit,
  };
  const rows = await store.guard(async (sql) => (await finishedJobIds(sql, store.schema, filter)) ?? [], "list finished jobs");
  const last = rows.at(-1);
  return { ids: rows.map((row) => row.id), nextCursor: rows.length >= limit && last !== undefined ? encodePageCursor(BigInt(last.seq)) : undefined };
}

/** `PostgresStorage.walkGraph`: the jobs reachable from `id` in one direction, nearest first. */
export async function walkGraph(store: StoreContext, id: JobId, direction: GraphDirection, limit: number): Promise<readonly JobId[]> {
  const bound = Math.floor(limit);
  if (!isUuid(id) || !(bound >= 1)) return [];
  const rows = await store.guard((sql) => walkGraphIds(sql, store.schema, id, direction, bound), "walk graph");
  return rows.map((row) => row.id);
}

/** `PostgresStorage.findExpiredLeases`: running jobs whose lease expired by the database's clock. */
export async function findExpiredLeases(store: StoreContext, limit: number): Promise<readonly ExpiredLease[]> {
  if (limit <= 0) return [];
  const rows = await store.guard((sql) => selectExpiredLeases(sql, store.schema, limit), "find expired leases");
  return rows.map((row) => ({ job: toJobRecord(row), lease: toLease(row) }));
}
