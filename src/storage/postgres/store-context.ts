import type postgres from "postgres";
import type { Published } from "./change-set.js";

/**
 * What an operation of `PostgresStorage` runs on: the store's schema and NOTIFY channel, its pool
 * behind the call deadline, its transactions, and its in-process change feed.
 */
export interface StoreContext {
  /** The schema holding the tables. */
  readonly schema: string;
  /** The NOTIFY channel of this schema. */
  readonly channel: string;
  /**
   * Runs database work on the current pool, bounded by the call deadline unless `bounded` is false;
   * anything but our own typed errors becomes a `StorageError`.
   */
  guard<T>(work: (sql: postgres.Sql) => Promise<T>, what: string, bounded?: boolean): Promise<T>;
  /** A transaction of our own, run again from the start after a deadlock or serialization failure. */
  transaction<T>(sql: postgres.Sql, work: (tx: postgres.TransactionSql) => Promise<T>): Promise<T>;
  /** After a commit: the changes, to this process's subscribers. */
  publish(changes: Published): void;
}
