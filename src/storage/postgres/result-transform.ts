import type postgres from "postgres";
import { ValidationError } from "../../errors.js";
import { selectResultProbe } from "./sql/result-probe.js";

// jobgraph reads its own rows by their column names and their JSON as stored: a postgres.js instance
// that transforms results (`transform: postgres.camel`, `.pascal`, `.kebab`, or functions of one's
// own) renames columns and the keys inside JSON values, and its answers cannot be read back.

const ADVICE =
  "jobgraph reads its own rows by their column names: use a postgres.js instance without a result transform " +
  "(`transform` with `column`, `value` or `row`, e.g. postgres.camel) for jobgraph; an application's own queries may keep theirs on another instance";

/** Whether the `sql` instance's options transform results (column names, values or rows). */
export function transformsResults(sql: { readonly options?: unknown }): boolean {
  const transform = (sql.options as { transform?: { column?: { from?: unknown }; value?: { from?: unknown }; row?: { from?: unknown } } } | undefined)?.transform;
  return transform?.column?.from !== undefined || transform?.value?.from !== undefined || transform?.row?.from !== undefined;
}

/** Refuses, for the `sql` option, an instance whose options transform results. */
export function assertNoResultTransform(sql: { readonly options?: unknown }, what: string): void {
  if (transformsResults(sql)) throw new ValidationError(`${what} transforms results. ${ADVICE}`, [{ path: what, message: "transforms results" }]);
}

/**
 * Refuses a transaction (`tx`) of an instance that transforms results. A transaction does not show
 * its instance's options, so this asks it for one row that such a transform would change (a value
 * transform that leaves the row's values alone goes unseen). Read-only; the caller runs it before
 * anything is written.
 */
export async function assertTransactionReadsAsStored(tx: postgres.TransactionSql): Promise<void> {
  // Asked once per transaction: its instance, and so its transform, cannot change.
  if (readsAsStored.has(tx)) return;
  const rows = (await selectResultProbe(tx)) as unknown as Record<string, unknown>[];
  const row = rows[0];
  const keys = row === undefined || row === null || typeof row !== "object" ? [] : Object.keys(row);
  const json = row?.jobgraph_json as { a_b?: unknown } | undefined;
  const asStored = keys.length === 3 && row?.jobgraph_probe === 1 && row.jobgraph_text === "a_b" && Array.isArray(json?.a_b) && Object.keys(json ?? {}).length === 1;
  if (!asStored) throw new ValidationError(`tx comes from a postgres.js instance that transforms results. ${ADVICE}`, [{ path: "tx", message: "transforms results" }]);
  readsAsStored.add(tx);
}

/** Transactions whose answer to the probe was as stored. */
const readsAsStored = new WeakSet<object>();
