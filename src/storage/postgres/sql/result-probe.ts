import type { Db } from "./fragments.js";

/**
 * One row that a result transform would change: column names with an underscore, a number, a text
 * with an underscore, and a JSON key with one (see `assertTransactionReadsAsStored`).
 */
export const selectResultProbe = (sql: Db) => sql<{ jobgraph_probe: number; jobgraph_text: string; jobgraph_json: { a_b: number[] } }[]>`
  select 1 as jobgraph_probe, 'a_b'::text as jobgraph_text, '{"a_b":[1]}'::jsonb as jobgraph_json`;
