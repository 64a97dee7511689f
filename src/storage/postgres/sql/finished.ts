import type postgres from "postgres";
import type { Db } from "../queries.js";

// Finished jobs by filter, oldest first, for a redrive (`listFinishedJobIds`).

/** What `finishedJobIds` matches; null bounds and empty lists match everything. */
export interface FinishedFilter {
  readonly statuses: readonly string[];
  readonly types: readonly string[];
  readonly finishedAfter: Date | null;
  readonly finishedBefore: Date | null;
  /** The cursor: only jobs inserted after this seq. */
  readonly afterSeq: string | null;
  readonly limit: number;
}

/**
 * Up to `limit` ids of jobs in `statuses` in insertion order, read along `jobs_status_idx`
 * (status, seq); the finish time is `coalesce(finished_at, updated_at)`, as retention judges it.
 */
export const finishedJobIds = (sql: Db, schema: string, f: FinishedFilter) => sql<{ id: string; seq: string }[]>`
  select j.id::text as id, j.seq::text as seq from ${sql(schema)}.jobs j
  where j.status in (select jsonb_array_elements_text(${sql.json(f.statuses as postgres.JSONValue)}))
    ${f.types.length > 0 ? sql`and j.type in (select jsonb_array_elements_text(${sql.json(f.types as postgres.JSONValue)}))` : sql``}
    ${f.finishedAfter !== null ? sql`and coalesce(j.finished_at, j.updated_at) >= ${f.finishedAfter}::timestamptz` : sql``}
    ${f.finishedBefore !== null ? sql`and coalesce(j.finished_at, j.updated_at) < ${f.finishedBefore}::timestamptz` : sql``}
    ${f.afterSeq !== null ? sql`and j.seq > ${f.afterSeq}::bigint` : sql``}
  order by j.seq
  limit ${f.limit}`;
