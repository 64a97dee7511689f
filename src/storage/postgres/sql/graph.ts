import { dependentsStep, type Db } from "./fragments.js";

// Walks of a job's graph for `walkGraph`: one recursive query per direction, through the edge indexes.

/**
 * The recursive step of a walk up the graph from the ids in the working table `b`: each one's
 * dependencies, as `x(job_id)`, looked up through the edges' primary key (job_id, depends_on_id)
 * one id at a time; `offset 0` keeps it a per-id lookup, as in `dependentsStep`.
 */
const dependenciesStep = (sql: Db, schema: string) => sql`
  cross join lateral (
    select d.depends_on_id as job_id from ${sql(schema)}.job_dependencies d
    where d.job_id = b.id
    offset 0
  ) x`;

/**
 * The distinct jobs reachable from `id` in one direction, at most `limit`. `union` (not `union all`)
 * over the id alone keeps each job once, so a dense graph is walked once per job, not once per
 * path; PostgreSQL evaluates the walk level by level and only as far as the `limit` reads, so the
 * first rows are the nearest jobs and a huge graph costs no more than `limit` of it.
 */
export const walkGraphIds = (sql: Db, schema: string, id: string, direction: "dependencies" | "dependents", limit: number) => {
  const [first, step] =
    direction === "dependents"
      ? [sql`select d.job_id from ${sql(schema)}.job_dependencies d where d.depends_on_id = ${id}::uuid`, dependentsStep(sql, schema)]
      : [sql`select d.depends_on_id from ${sql(schema)}.job_dependencies d where d.job_id = ${id}::uuid`, dependenciesStep(sql, schema)];
  return sql<{ id: string }[]>`
    with recursive walk(id) as (
      ${first}
      union
      select x.job_id from walk b ${step}
    )
    select w.id::text as id from walk w where w.id <> ${id}::uuid limit ${limit}`;
};

/** The plan of `walkGraphIds`, for the test that keeps each step on an index of the edges. */
export const explainWalkGraph = (sql: Db, schema: string, id: string, direction: "dependencies" | "dependents", limit: number) => sql<{ "QUERY PLAN": string }[]>`
  explain ${walkGraphIds(sql, schema, id, direction, limit)}`;
