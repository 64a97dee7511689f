import { SchemaTooNewError } from "../../errors.js";
import * as q from "./queries.js";
import type { Db } from "./queries.js";
import * as history from "./sql/history.js";
import { createSchedulesTable } from "./sql/schedules.js";

/** One numbered schema change. Append only: a released migration is never edited. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: (sql: Db, schema: string) => Promise<void>;
}

/** Every migration, in order; `version` is its 1-based position. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    async up(sql, schema) {
      await q.createJobsTable(sql, schema);
      for (const index of q.createJobsIndexes(sql, schema)) await index;
      await q.createDependenciesTable(sql, schema);
      await q.createDependenciesIndex(sql, schema);
      await q.createLogsTable(sql, schema);
      await q.createLogsIndex(sql, schema);
    },
  },
  {
    version: 2,
    name: "retention index",
    async up(sql, schema) {
      await q.createFinishedIndex(sql, schema);
    },
  },
  {
    version: 3,
    name: "drop created_at index",
    async up(sql, schema) {
      await q.dropCreatedAtIndex(sql, schema);
    },
  },
  {
    version: 4,
    name: "history in the job row",
    async up(sql, schema) {
      await history.addHistoryColumns(sql, schema);
      await history.foldStatusRowsIntoAttempts(sql, schema);
      await history.foldStatusRowsIntoTransitions(sql, schema);
      await history.deleteStatusRows(sql, schema);
      for (const statement of history.reindexForHistoryInRow(sql, schema)) await statement;
    },
  },
  {
    version: 5,
    name: "schedules",
    async up(sql, schema) {
      await createSchedulesTable(sql, schema);
    },
  },
];

/** The newest schema version this code knows. */
export const LATEST_VERSION = MIGRATIONS.length;

/** Runs a callback in a transaction; PostgresStorage passes `sql.begin`. */
export type InTransaction = <T>(fn: (sql: Db) => Promise<T>) => Promise<T>;

/**
 * Applies pending migrations, one transaction each, every transaction holding the schema's
 * advisory lock before it looks at anything, so concurrent starters apply each version once and
 * `create schema` never races. Refuses a database newer than this code.
 */
export async function migrate(inTransaction: InTransaction, schema: string): Promise<void> {
  for (;;) {
    const done = await inTransaction(async (sql) => {
      await q.lockMigrations(sql, schema);
      const applied = await appliedVersions(sql, schema);
      const newest = Math.max(0, ...applied);
      if (newest > LATEST_VERSION) throw new SchemaTooNewError(newest, LATEST_VERSION);
      const next = MIGRATIONS.find((migration) => !applied.includes(migration.version));
      if (next === undefined) return true;
      await next.up(sql, schema);
      await q.recordMigration(sql, schema, next.version, next.name);
      return false;
    });
    if (done) return;
  }
}

/** Versions recorded in the schema, creating the schema and its ledger on first use. */
async function appliedVersions(sql: Db, schema: string): Promise<number[]> {
  // Checked before creating (instead of `if not exists`) so a set-up database raises no notices.
  const [schemaRow] = await q.schemaExists(sql, schema);
  if (schemaRow?.exists !== true) await q.createSchema(sql, schema);
  const [tableRow] = await q.migrationsTableExists(sql, schema);
  if (tableRow?.exists !== true) await q.createMigrationsTable(sql, schema);
  return (await q.appliedMigrations(sql, schema)).map((row) => row.version);
}
