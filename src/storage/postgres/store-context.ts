import type postgres from "postgres";
import type { Published } from "./change-set.js";
import type { Notice } from "./sql/notify.js";

/**
 * What an operation of `PostgresStorage` runs on: the store's schema and notifications, its pool
 * behind the call deadline, its transactions, and its in-process change feed.
 */
export interface StoreContext {
  /** The schema holding the tables. */
  readonly schema: string;
  /** Where one write of its own notifies: this schema's channel, tagged as this store's and this write's. */
  nextNotice(): Notice;
  /** The same channel untagged, for writes in an application's transaction (heard back through LISTEN like any other). */
  readonly untaggedNotice: Notice;
  /**
   * Runs database work on the current pool, bounded by the call deadline unless `bounded` is false;
   * anything but our own typed errors becomes a `StorageError`.
   */
  guard<T>(work: (sql: postgres.Sql) => Promise<T>, what: string, bounded?: boolean): Promise<T>;
  /**
   * How long a statement of the store's own transactions waits for a row lock before it fails
   * (55P03): below the call deadline, so that a lock held long (an attempt's `ctx.tx` naming a job)
   * fails that one call rather than the deadline replacing the pool, which would end every attempt
   * transaction on it. Undefined without a call deadline. A settle waits on in such pieces (it must
   * not give up: a completed job left to the rescuer runs again).
   */
  readonly lockWaitMs: number | undefined;
  /**
   * A transaction of our own (lock waits bounded by `lockWaitMs`, or by the `lockWaitMs` given), run
   * again from the start after a deadlock or serialization failure.
   */
  transaction<T>(sql: postgres.Sql, work: (tx: postgres.TransactionSql) => Promise<T>, lockWaitMs?: number): Promise<T>;
  /** After the commit of a write of its own (tagged `notice`): its changes, for this store's subscribers. */
  publish(changes: Published, notice: Notice): void;
}
