import type postgres from "postgres";
import { TERMINAL_STATUSES } from "../../../types.js";
import { statusIs, type Db } from "./fragments.js";

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
  // Each status as a literal condition (`statusIs`), so each is read along its own partial index.
  const branches = [...new Set(f.statuses)].filter((status) => (TERMINAL_STATUSES as readonly string[]).includes(status)).map((status) =>
    sql`(select j.id::text as id, j.seq from ${sql(schema)}.jobs j where ${statusIs(sql, status)} ${rest} order by j.seq limit ${f.limit})`);
  const [first, ...others] = branches;
  if (first === undefined) return undefined;
  const union = others.reduce((all, branch) => sql`${all} union all ${branch}`, first);
  return sql<{ id: string; seq: string }[]>`select x.id, x.seq::text as seq from (${union}) x order by x.seq limit ${f.limit}`;
};

/** The plan of `finishedJobIds`, for the test that keeps it on the partial index of each status. */
export const explainFinishedJobIds = (sql: Db, schema: string, f: FinishedFilter) => sql<{ "QUERY PLAN": string }[]>`
  explain ${finishedJobIds(sql, schema, f) ?? sql`select 1`}`;
