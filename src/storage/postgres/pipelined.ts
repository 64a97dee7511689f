import type postgres from "postgres";
import { isConnectionLoss } from "./driver.js";
import * as q from "./queries.js";

/** The statements of one pipelined transaction, made on its connection, and how to read their results. */
export interface Pipeline<T> {
  readonly statements: readonly postgres.PendingQuery<postgres.Row[]>[];
  finish(results: readonly postgres.RowList<postgres.Row[]>[]): T;
}

/**
 * One transaction in one round trip: BEGIN, the statements and COMMIT are written together on a
 * reserved connection, and PostgreSQL runs them in order, each statement with a snapshot taken
 * after the previous one finished. If one fails, the rest fail with it, COMMIT answers ROLLBACK,
 * and its error is thrown. Nothing is written to a connection that was lost (see `beginGuarded`).
 */
export async function runPipelined<T>(sql: postgres.Sql, build: (tx: postgres.ReservedSql) => Pipeline<T>): Promise<T> {
  const reserved = await sql.reserve();
  let lost = false;
  try {
    const pipeline = build(reserved);
    const begun = q.begin(reserved).execute();
    const results = pipeline.statements.map((statement) => statement.execute());
    const committed = q.commit(reserved).execute();
    const sent = [begun, ...results, committed];
    const outcomes = await new Promise<PromiseSettledResult<postgres.RowList<postgres.Row[]>>[]>((resolve, reject) => {
      // Statements still queued behind one that waits for its description are never answered
      // when the connection dies; the loss is known from the ones already sent.
      for (const statement of sent) {
        statement.catch((err: unknown) => {
          if (!isConnectionLoss(err)) return;
          lost = true;
          reject(err);
        });
      }
      void Promise.allSettled(sent).then(resolve);
    });
    // The first failure in order is the cause; the ones after it only report the aborted transaction.
    const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
    if (failure !== undefined) throw failure.reason;
    return pipeline.finish(outcomes.slice(1, -1).map((outcome) => (outcome as PromiseFulfilledResult<postgres.RowList<postgres.Row[]>>).value));
  } finally {
    // A lost connection is already back among the pool's closed ones; releasing it would list it as open.
    if (!lost) reserved.release();
  }
}
