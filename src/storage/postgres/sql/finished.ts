import type postgres from "postgres";
import type { Db } from "../queries.js";

// Finished jobs by filter, oldest first, for a redrive (`listFinishedJobIds`).

/** What `finishedJobIds` matches; null bounds and empty types match everything. */
export interface FinishedFilter {
  /** Terminal statuses; any other is ignored. */
  readonly statuses: readonly string[];
  readonly types: readonly string[];
  readonly finishedAfter: Date | null;
  readonly finishedBefore: Date | null;
  /** The cursor: only jobs inserted after this seq. */
  readonly afterSeq: string | null;
  readonly limit: number;
}

/**
 * The status condition as a literal, not a parameter: the planner then knows from the column's
 * statistics how rare failed jobs are among completed ones, and reads them along `jobs_status_idx`
 * (status, seq) instead of walking `jobs_seq_idx` past every completed job with a filter.
 */
function statusIs(sql: Db, status: string) {
  switch (status) {
    case "completed":
      return sql`j.status = 'completed'`;
    case "failed":
      return sql`j.status = 'failed'`;
    case "cancelled":
      return sql`j.status = 'cancelled'`;
    default:
      return undefined;
  }
}

/**
 * Up to `limit` ids of jobs in `statuses` in insertion order: each status read on its own, in seq
 * order from the cursor, and the pages merged. The finish time is `coalesce(finished_at, updated_at)`,
 * as retention judges it. Undefined when no terminal status is asked for.
 */
export const finishedJobIds = (sql: Db, schema: string, f: FinishedFilter) => {
  const rest = sql`
    ${f.afterSeq !== null ? sql`and j.seq > ${f.afterSeq}::bigint` : sql``}
    ${f.types.length > 0 ? sql`and j.type in (select jsonb_array_elements_text(${sql.json(f.types as postgres.JSONValue)}))` : sql``}
    ${f.finishedAfter !== null ? sql`and coalesce(j.finished_at, j.updated_at) >= ${f.finishedAfter}::timestamptz` : sql``}
    ${f.finishedBefore !== null ? sql`and coalesce(j.finished_at, j.updated_at) < ${f.finishedBefore}::timestamptz` : sql``}`;
  const branches = [...new Set(f.statuses)].flatMap((status) => {
    const condition = statusIs(sql, status);
    return condition === undefined ? [] : [sql`(select j.id::text as id, j.seq from ${sql(schema)}.jobs j where ${condition} ${rest} order by j.seq limit ${f.limit})`];
  });
  const [first, ...others] = branches;
  if (first === undefined) return undefined;
  const union = others.reduce((all, branch) => sql`${all} union all ${branch}`, first);
  return sql<{ id: string; seq: string }[]>`select x.id, x.seq::text as seq from (${union}) x order by x.seq limit ${f.limit}`;
};

/** The plan of `finishedJobIds`, for the test that keeps it on `jobs_status_idx`. */
export const explainFinishedJobIds = (sql: Db, schema: string, f: FinishedFilter) => sql<{ "QUERY PLAN": string }[]>`
  explain ${finishedJobIds(sql, schema, f) ?? sql`select 1`}`;
