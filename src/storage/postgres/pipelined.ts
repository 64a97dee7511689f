import type postgres from "postgres";
import { beginGuarded, isConnectionLoss } from "./driver.js";
import { limitLockWait } from "./sql/lock-affected.js";

/** The statements of one pipelined transaction, made on its connection, and how to read their results. */
export interface Pipeline<T> {
  readonly statements: readonly postgres.PendingQuery<postgres.Row[]>[];
  finish(results: readonly postgres.RowList<postgres.Row[]>[]): T;
}

/**
 * One transaction whose statements are written together, after BEGIN answered, and run by
 * PostgreSQL in order, each with a snapshot taken after the previous one finished. If one fails,
 * the rest fail with it, the transaction rolls back, and its error is thrown.
 *
 * Not on a reserved connection (`sql.reserve()`), although that would also save BEGIN's and COMMIT's
 * round trips: in postgres.js 3.4.9 a reserve that waits for a connection is lost for good when a
 * connection of the pool closes meanwhile (porsager/postgres#1195), and one that opens a connection
 * never resolves once the array types are loaded (#751, #1219): the settle would wait forever.
 */
export function runPipelined<T>(sql: postgres.Sql, build: (tx: postgres.TransactionSql) => Pipeline<T>, lockWaitMs?: number): Promise<T> {
  return beginGuarded(sql, async (tx) => {
    const pipeline = build(tx);
    // Lock waits bounded (see `StoreContext.lockWaitMs`), written first in the same pipeline.
    const prelude = lockWaitMs === undefined ? [] : [limitLockWait(tx, lockWaitMs).execute()];
    const sent = [...prelude, ...pipeline.statements.map((statement) => statement.execute())];
    const outcomes = await new Promise<PromiseSettledResult<postgres.RowList<postgres.Row[]>>[]>((resolve, reject) => {
      // Statements still queued behind one that waits for its description are never answered
      // when the connection dies; the loss is known from the ones already sent.
      for (const statement of sent) {
        statement.catch((err: unknown) => {
          if (isConnectionLoss(err)) reject(err);
        });
      }
      void Promise.allSettled(sent).then(resolve);
    });
    // The first failure in order is the cause; the ones after it only report the aborted transaction.
    const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
    if (failure !== undefined) throw failure.reason;
    return pipeline.finish(outcomes.slice(prelude.length).map((outcome) => (outcome as PromiseFulfilledResult<postgres.RowList<postgres.Row[]>>).value));
  });
}
