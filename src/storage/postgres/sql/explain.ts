import { candidatesAt, claimRunnable, type ClaimParameters } from "./claim.js";
import type { Db } from "./fragments.js";
import { liveKeyHolders } from "./insert.js";
import { extendLeases, type LeaseRow } from "./leases.js";
import { listJobRows } from "./reads.js";
import { settleAndUnblock, type SettlementRow } from "./settle.js";
import type { Notice } from "./notify.js";

// Plans of the statements whose index use tests check: EXPLAIN of the statement, not run.

/** For EXPLAIN in tests and diagnostics: the plan of `liveKeyHolders`. */
export const explainLiveKeyHolders = (sql: Db, schema: string, keys: readonly string[]) => sql<{ "QUERY PLAN": string }[]>`
  explain ${liveKeyHolders(sql, schema, keys)}`;

/** For EXPLAIN in tests and diagnostics: the plan of a page of `listJobRows`. */
export const explainListJobRows = (sql: Db, schema: string, filter: Parameters<typeof listJobRows>[2]) => sql<{ "QUERY PLAN": string }[]>`
  explain ${listJobRows(sql, schema, filter)}`;

/** For EXPLAIN in tests and diagnostics: the plan of one claim-candidate scan. */
export const explainClaimCandidates = (sql: Db, schema: string, types: readonly string[], perLevel: number) => sql<{ "QUERY PLAN": string }[]>`
  explain ${candidatesAt(sql, schema, 2, types, perLevel)}`;

/** The plan of `claimRunnable`, for tests: the statement is not run. */
export const explainClaimRunnable = (sql: Db, schema: string, notice: Notice, claim: ClaimParameters) =>
  sql<{ "QUERY PLAN": string }[]>`explain ${claimRunnable(sql, schema, notice, claim)}`;

/** The plan of `settleAndUnblock`, for tests: the statement is not run. */
export const explainSettleAndUnblock = (sql: Db, schema: string, notice: Notice, settlements: readonly SettlementRow[]) =>
  sql<{ "QUERY PLAN": string }[]>`explain ${settleAndUnblock(sql, schema, notice, settlements)}`;

/** The plan of `extendLeases`, for tests: the statement is not run. */
export const explainExtendLeases = (sql: Db, schema: string, leases: readonly LeaseRow[], leaseMs: number) =>
  sql<{ "QUERY PLAN": string }[]>`explain ${extendLeases(sql, schema, leases, leaseMs)}`;
