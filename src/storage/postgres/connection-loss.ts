import type postgres from "postgres";

/** postgres.js codes for a connection that is gone, and socket errors that mean the same. */
const LOST_CODES: ReadonlySet<string> = new Set([
  "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNREFUSED",
]);

/** Whether `err` means the connection itself is gone (closed, reset, or ended by the server with FATAL). */
export function isConnectionLoss(err: unknown): boolean {
  const { code, severity } = (err ?? {}) as { code?: unknown; severity?: unknown };
  return (typeof code === "string" && LOST_CODES.has(code)) || severity === "FATAL" || severity === "PANIC";
}

/** The longest wait, in seconds, before a lost connection of a jobgraph pool is opened again. */
const RECONNECT_CAP_SECONDS = 1;

/**
 * postgres.js `backoff`: seconds before a closed connection reconnects for the query waiting on it,
 * after `retries` failures in a row across the pool. The default grows to 20 s (3^retries / 100),
 * so after a burst of killed connections a statement (a BEGIN, a claim) could wait 10-20 s for its
 * connection although the server answers again. Doubling from 50 ms, jittered, capped at 1 s.
 */
export function reconnectBackoffSeconds(retries: number): number {
  return Math.min(RECONNECT_CAP_SECONDS, 0.05 * 2 ** Math.max(0, retries)) * (0.5 + Math.random() / 2);
}

/** A promise that never settles: what a transaction callback returns once its connection is gone. */
export function never(): Promise<never> {
  return new Promise<never>(() => undefined);
}

/**
 * `sql.begin(work)`, except when the connection dies under `work`: then it rejects with that
 * error and the callback never settles, so postgres.js does not write ROLLBACK to the dead
 * connection. (postgres.js 3.4.9 schedules that write for after the socket is gone and then
 * throws an uncaught TypeError from `nextWrite`, which would take the whole process down;
 * porsager/postgres#1154, #1208.) The server rolls back a transaction whose session ended.
 */
export function beginGuarded<T>(sql: postgres.Sql, work: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  let lost: (err: unknown) => void = () => undefined;
  const connectionLost = new Promise<never>((_, reject) => (lost = reject));
  const begun = sql.begin(async (tx) => {
    try {
      return await work(tx);
    } catch (err) {
      if (!isConnectionLoss(err)) throw err;
      lost(err);
      return never();
    }
  }) as Promise<T>;
  // Once the connection closes, postgres.js rejects `begun` too; that rejection is already reported.
  begun.catch(() => undefined);
  return Promise.race([begun, connectionLost]);
}
