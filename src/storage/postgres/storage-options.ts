import { z } from "zod";
import type { PostgresSql } from "./driver.js";

/** Options of `PostgresStorage`. */
export interface PostgresStorageOptions {
  /** A PostgreSQL URL; one of `connectionString` and `sql` is required (`sql` wins when both are given). */
  readonly connectionString?: string | undefined;
  /** A postgres.js instance (3.4 or 4) the application already has; `close()` leaves it open. */
  readonly sql?: PostgresSql;
  /** The schema holding jobgraph's tables (default "jobgraph"), so one database can hold several queues. */
  readonly schema?: string;
  /** Pool size when this store creates the pool (default 10). */
  readonly max?: number;
  /** LISTEN for changes from every process (default true); false for PgBouncer transaction pooling. */
  readonly listen?: boolean;
  /** How often the listen connection is checked with a round trip (default 5,000 ms). */
  readonly listenerCheckMs?: number;
  /** How long LISTEN or a check may take before the listen connection is replaced (default 5,000 ms). */
  readonly listenerTimeoutMs?: number;
  /**
   * How long a session of this store's pool may sit idle inside a transaction before the server ends
   * it (default 60,000 ms; 0: never). A worker cut off mid-transaction leaves its session behind on the
   * server, holding row locks that would block the rescue of its jobs until the server notices.
   */
  readonly idleInTransactionTimeoutMs?: number;
  /**
   * How long one call of the store may go unanswered before it fails with a `StorageError` and the
   * store replaces its pool (default 30,000 ms; 0: no bound). A connection that stopped answering
   * without closing (a half-open network), or a driver that lost a request when a connection was
   * killed, would otherwise hold the call, and whoever waits on it, for good. Migrations are exempt.
   */
  readonly callTimeoutMs?: number;
}

/** Parses `PostgresStorageOptions` and fills in their defaults. */
export const optionsSchema = z.object({
  connectionString: z.string().min(1).optional(),
  sql: z
    .custom<PostgresSql>((value) => typeof value === "function" && typeof (value as { begin?: unknown }).begin === "function", {
      message: "expected a postgres.js instance",
    })
    .optional(),
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,47}$/, "must be a lowercase identifier of at most 48 characters")
    .default("jobgraph"),
  max: z.number().int().min(1).max(1_000).default(10),
  listen: z.boolean().default(true),
  listenerCheckMs: z.number().int().min(10).max(600_000).default(5_000),
  listenerTimeoutMs: z.number().int().min(10).max(600_000).default(5_000),
  idleInTransactionTimeoutMs: z.number().int().min(0).max(2_147_483_647).default(60_000),
  callTimeoutMs: z.number().int().min(0).max(2_147_483_647).default(30_000),
}).refine((o) => o.connectionString !== undefined || o.sql !== undefined, {
  // Without either, postgres.js would connect to its defaults (PG* variables, else a database and
  // user named after the OS user): a missing URL would surface as a confusing connection error later.
  path: ["connectionString"],
  message: "give a connectionString (e.g. process.env.DATABASE_URL) or a postgres.js instance as sql",
});
