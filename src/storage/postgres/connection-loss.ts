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
