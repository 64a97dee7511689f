import type { JobStatus } from "../../../types.js";
import { textArray } from "../driver.js";
import type { JobRow } from "../rows.js";
import { jobColumns, statusIs, uuidList, type Db } from "./fragments.js";

// Reads of jobs: by id, a page of a listing, counts, and the leases that expired.

export const selectJobs = (sql: Db, schema: string, ids: readonly string[]) => sql<JobRow[]>`
  select ${jobColumns(sql, schema)} from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)})`;

/** Existing ids among `ids` (no lock). */
export const selectExistingIds = (sql: Db, schema: string, ids: readonly string[]) => sql<{ id: string }[]>`
  select j.id::text as id from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)})`;

/**
 * A page of jobs, newest first; `beforeSeq` is the cursor (exclusive). Empty filters match all.
 * `cand` takes, per status asked for, its newest `limit + 1` matching jobs' seqs (through that
 * status's partial index where there is one; through `jobs_seq_idx` otherwise). The recursive CTE
 * then steps down them one at a time, adding up each one's size (the JSON text of payload, result
 * and error), and stops at the first job that does not fit: past `limit` jobs or past `maxBytes`
 * (the first job always fits). That job is looked at, to know that more follow (`scanned` counts
 * it), but not returned, so no job past the page is ever sent.
 */
export const listJobRows = (
  sql: Db,
  schema: string,
  filter: { statuses: readonly string[]; types: readonly string[]; beforeSeq: string | null; limit: number; maxBytes: number },
) => {
  const types = filter.types.length > 0 ? sql`and j.type = any(${textArray(filter.types)}::text[])` : sql``;
  const before = filter.beforeSeq !== null ? sql`and j.seq < ${filter.beforeSeq}::bigint` : sql``;
  const arm = (status: ReturnType<Db>): ReturnType<Db> => sql`
    (select j.seq from ${sql(schema)}.jobs j where ${status} ${types} ${before} order by j.seq desc limit ${filter.limit + 1}::int)`;
  const statuses = [...new Set(filter.statuses)];
  const arms = statuses.length === 0 ? [arm(sql`true`)] : statuses.map((status) => arm(statusIs(sql, status)));
  const candidates = arms.reduce((all, next): ReturnType<Db> => sql`${all} union all ${next}`);
  const size = sql`(octet_length(coalesce(j.payload::text, '')) + octet_length(coalesce(j.result::text, '')) + octet_length(coalesce(j.error::text, '')))::bigint`;
  return sql<(JobRow & { scanned: number })[]>`
    with recursive cand as materialized (${candidates}),
    page (seq, n, total, in_page) as (
      (select j.seq, 1, ${size}, true
       from (select c.seq from cand c order by c.seq desc limit 1) first
       join ${sql(schema)}.jobs j on j.seq = first.seq)
      union all
      (select j.seq, p.n + 1, p.total + ${size}, p.n + 1 <= ${filter.limit}::int and p.total + ${size} <= ${filter.maxBytes}::bigint
       from page p
       cross join lateral (select c.seq from cand c where c.seq < p.seq order by c.seq desc limit 1) next
       join ${sql(schema)}.jobs j on j.seq = next.seq
       where p.in_page)
    )
    select ${jobColumns(sql, schema)}, (select count(*) from page)::int as scanned
    from page p join ${sql(schema)}.jobs j on j.seq = p.seq
    where p.in_page
    order by j.seq desc`;
};

export const countByStatusAndPriority = (sql: Db, schema: string) => sql<{ status: JobStatus; priority: number; count: string }[]>`
  select status, priority, count(*)::text as count from ${sql(schema)}.jobs group by status, priority`;

/**
 * Running jobs whose lease expired, the longest expired first, but for rows another transaction
 * holds (the attempt's own ctx.tx, an insert naming the job): the rescue would skip them anyway,
 * and read first at every pass they would fill its batches and hold up every other rescue.
 */
export const selectExpiredLeases = (sql: Db, schema: string, limit: number) => sql<JobRow[]>`
  select ${jobColumns(sql, schema)} from ${sql(schema)}.jobs j
  where j.status = 'running' and j.lease_expires_at <= now()
  order by j.lease_expires_at, j.seq
  limit ${limit}
  for no key update of j skip locked`;
