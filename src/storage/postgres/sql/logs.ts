import type { Db, JsonDoc } from "./fragments.js";

// Handler log lines, and a job's history with them.

/** One handler log line as the statement reads it. */
export interface LogLineRow {
  readonly job_id: string;
  readonly attempt: number;
  readonly at: string;
  readonly level: string;
  readonly message: string;
  readonly data?: unknown;
}

export const insertLogLines = (sql: Db, schema: string, lines: readonly LogLineRow[]) => sql`
  insert into ${sql(schema)}.job_logs (job_id, at, attempt, kind, level, message, data)
  select r.job_id, r.at, r.attempt, 'log', r.level, r.message, e.doc->'data'
  from jsonb_array_elements(${sql.json(lines as unknown as JsonDoc)}) with ordinality as e(doc, ord)
  cross join lateral jsonb_to_record(e.doc) as r(job_id uuid, at timestamptz, attempt int, level text, message text)
  order by e.ord`;

/** A job's history as `deriveJobLogs` reads it: the row's creation, attempts and transitions, and its handler lines in order. */
export interface HistoryRow {
  readonly created_at: Date;
  readonly attempts: unknown;
  readonly transitions: unknown;
  readonly lines: { at: string; attempt: number; level: string; message: string; data: unknown }[];
}

export const selectHistory = (sql: Db, schema: string, jobId: string) => sql<HistoryRow[]>`
  select j.created_at, j.attempts, j.transitions,
    coalesce((select json_agg(json_build_object('at', l.at, 'attempt', l.attempt, 'level', l.level, 'message', l.message, 'data', l.data) order by l.seq)
              from ${sql(schema)}.job_logs l where l.job_id = j.id and l.kind = 'log'), '[]'::json) as lines
  from ${sql(schema)}.jobs j where j.id = ${jobId}::uuid`;
