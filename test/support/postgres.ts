import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { describe } from "vitest";
import { PostgresStorage, type PostgresStorageOptions } from "../../src/storage/postgres/index.js";

/** Where the PostgreSQL tests connect on this project's machines when DATABASE_URL is not set. */
const LOCAL_URL = "postgres://postgres@127.0.0.1:5432/test";

function resolveUrl(): { url: string | undefined; reason: string } {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv !== undefined && fromEnv !== "") return { url: fromEnv, reason: "DATABASE_URL" };
  if (process.env.CI === "true") {
    throw new Error("PostgreSQL tests need DATABASE_URL in CI (CI=true); set it to a database the tests may create schemas in");
  }
  return { url: LOCAL_URL, reason: "local default" };
}

/** Whether the server answers, probed once per test file. */
async function probe(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => undefined });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const resolved = resolveUrl();

/** The connection URL the PostgreSQL tests use. */
export const databaseUrl: string = resolved.url ?? LOCAL_URL;

/** Whether PostgreSQL is reachable; false only outside CI, where the suites are skipped loudly. */
export const postgresAvailable: boolean = await (async () => {
  const up = await probe(databaseUrl);
  if (!up && process.env.CI === "true") throw new Error(`PostgreSQL is not reachable at ${redact(databaseUrl)} (CI=true)`);
  if (!up) console.warn(`\n*** SKIPPING PostgreSQL tests: no server at ${redact(databaseUrl)} (${resolved.reason}). Set DATABASE_URL. ***\n`);
  return up;
})();

/** `describe` that runs only when PostgreSQL is reachable (and says so when it is not). */
export const describePostgres = (name: string, fn: () => void) => (postgresAvailable ? describe(name, fn) : describe.skip(name, fn));

/** A schema name no other test uses. */
export function freshSchemaName(): string {
  return `jg_t_${randomBytes(6).toString("hex")}`;
}

/** A plain postgres.js pool for assertions and fixtures; end it after use. */
export function adminSql(): postgres.Sql {
  return postgres(databaseUrl, { max: 4, onnotice: () => undefined });
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const sql = adminSql();
  try {
    await sql`drop schema if exists ${sql(schema)} cascade`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** A set-up PostgresStorage in a fresh schema, and a cleanup that closes it and drops the schema. */
export async function newPostgresStorage(options: Omit<PostgresStorageOptions, "schema" | "connectionString"> & { schema?: string } = {}): Promise<{
  storage: PostgresStorage;
  schema: string;
  cleanup: () => Promise<void>;
}> {
  const schema = options.schema ?? freshSchemaName();
  const storage = new PostgresStorage({ connectionString: databaseUrl, max: 4, ...options, schema });
  await storage.setup();
  return {
    storage,
    schema,
    cleanup: async () => {
      await storage.close();
      await dropSchema(schema);
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function redact(url: string): string {
  return url.replace(/:\/\/([^:@/]+):[^@/]*@/, "://$1:***@");
}
