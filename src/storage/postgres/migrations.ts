import { SchemaTooNewError } from "../../errors.js";
import * as history from "./sql/history.js";
import { createSchedulesTable } from "./sql/schedules.js";
import type { Db } from "./sql/fragments.js";
import { appliedMigrations, createMigrationsTable, createSchema, lockMigrations, migrationsTableExists, recordMigration, schemaExists } from "./sql/migration-ledger.js";
import { createDependenciesIndex, createDependenciesTable, createFinishedIndex, createJobsIndexes, createJobsTable, createLogsIndex, createLogsTable, dropCreatedAtIndex } from "./sql/schema.js";

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
      await createJobsTable(sql, schema);
      for (const index of createJobsIndexes(sql, schema)) await index;
      await createDependenciesTable(sql, schema);
      await createDependenciesIndex(sql, schema);
      await createLogsTable(sql, schema);
      await createLogsIndex(sql, schema);
    },
  },
  {
    version: 2,
    name: "retention index",
    async up(sql, schema) {
      await createFinishedIndex(sql, schema);
    },
  },
  {
    version: 3,
    name: "drop created_at index",
    async up(sql, schema) {
      await dropCreatedAtIndex(sql, schema);
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
      await lockMigrations(sql, schema);
      const applied = await appliedVersions(sql, schema);
      const newest = Math.max(0, ...applied);
      if (newest > LATEST_VERSION) throw new SchemaTooNewError(newest, LATEST_VERSION);
      const next = MIGRATIONS.find((migration) => !applied.includes(migration.version));
      if (next === undefined) return true;
      await next.up(sql, schema);
      await recordMigration(sql, schema, next.version, next.name);
      return false;
    });
    if (done) return;
  }
}

/** Versions recorded in the schema, creating the schema and its ledger on first use. */
async function appliedVersions(sql: Db, schema: string): Promise<number[]> {
  // Checked before creating (instead of `if not exists`) so a set-up database raises no notices.
  const [schemaRow] = await schemaExists(sql, schema);
  if (schemaRow?.exists !== true) await createSchema(sql, schema);
  const [tableRow] = await migrationsTableExists(sql, schema);
  if (tableRow?.exists !== true) await createMigrationsTable(sql, schema);
  return (await appliedMigrations(sql, schema)).map((row) => row.version);
}
