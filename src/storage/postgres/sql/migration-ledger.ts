import type { Db } from "./fragments.js";

// The migrations' own bookkeeping: the advisory lock, the schema and the table of applied versions.

/** Serialises every migration run on this schema, across processes, until the transaction ends. */
export const lockMigrations = (sql: Db, schema: string) => sql`
  select pg_advisory_xact_lock(hashtextextended(${"jobgraph.migrate:" + schema}, 0))`;

export const schemaExists = (sql: Db, schema: string) => sql<{ exists: boolean }[]>`
  select exists (select 1 from pg_namespace where nspname = ${schema}) as exists`;

export const createSchema = (sql: Db, schema: string) => sql`create schema ${sql(schema)}`;

export const migrationsTableExists = (sql: Db, schema: string) => sql<{ exists: boolean }[]>`
  select exists (select 1 from pg_tables where schemaname = ${schema} and tablename = 'migrations') as exists`;

export const createMigrationsTable = (sql: Db, schema: string) => sql`
  create table ${sql(schema)}.migrations (
    version int primary key,
    name text not null,
    applied_at timestamptz not null default now()
  )`;

export const appliedMigrations = (sql: Db, schema: string) => sql<{ version: number }[]>`
  select version from ${sql(schema)}.migrations order by version`;

export const recordMigration = (sql: Db, schema: string, version: number, name: string) => sql`
  insert into ${sql(schema)}.migrations (version, name) values (${version}, ${name})`;
