import { SchemaTooNewError } from "../../errors.js";
import type { Db } from "./sql/fragments.js";
import { appliedMigrations, createMigrationsTable, createSchema, lockMigrations, migrationsTableExists, recordMigration, schemaExists } from "./sql/migration-ledger.js";
import { initialSchemaMigration } from "./migrations/001-initial-schema.js";
import { retentionIndexMigration } from "./migrations/002-retention-index.js";
import { dropCreatedAtIndexMigration } from "./migrations/003-drop-created-at-index.js";
import { historyInJobRowMigration } from "./migrations/004-history-in-job-row.js";
import { schedulesMigration } from "./migrations/005-schedules.js";
import { scheduleRevisionsMigration } from "./migrations/006-schedule-revisions.js";
import type { Migration } from "./migrations/migration.js";

export type { Migration } from "./migrations/migration.js";

/** Every migration, in order; `version` is its 1-based position. */
export const MIGRATIONS: readonly Migration[] = [
  initialSchemaMigration,
  retentionIndexMigration,
  dropCreatedAtIndexMigration,
  historyInJobRowMigration,
  schedulesMigration,
  scheduleRevisionsMigration,
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
