import postgres from "postgres";
import postgres3 from "postgres3";
import { expect, expectTypeOf, it } from "vitest";
import { Queue } from "../../src/queue.js";
import { PostgresStorage, type PostgresSql, type PostgresTransaction } from "../../src/storage/postgres/index.js";
import { databaseUrl } from "../support/postgres.js";

// Checked by `tsc --noEmit` (this file is in the project): an application's pool and transactions
// of postgres.js 3.4 and 4 both fit the store's options and `enqueue({ tx })`, without a cast.
// Nothing here connects: postgres.js opens connections on the first query only.

it("accepts a postgres.js 3.4 or 4 pool as sql, and a transaction of either as tx", async () => {
  const v3 = postgres3(databaseUrl, { max: 1 });
  const v4 = postgres(databaseUrl, { max: 1 });
  expectTypeOf(v3).toExtend<PostgresSql>();
  expectTypeOf(v4).toExtend<PostgresSql>();
  expectTypeOf<postgres3.TransactionSql>().toExtend<PostgresTransaction>();
  expectTypeOf<postgres.TransactionSql>().toExtend<PostgresTransaction>();
  // A plain pool is no transaction: the insert must join one.
  expectTypeOf<postgres.Sql>().not.toExtend<PostgresTransaction>();
  expectTypeOf<postgres3.Sql>().not.toExtend<PostgresTransaction>();

  const stores = [new PostgresStorage({ sql: v3 }), new PostgresStorage({ sql: v4 })];
  const queue = new Queue({ storage: stores[1]!, logger: false });
  // Type-checked only: the callback never runs.
  const enqueueIn = (tx: postgres.TransactionSql) => queue.enqueue("t", {}, { tx });
  const enqueueIn3 = (tx: postgres3.TransactionSql) => queue.enqueue("t", {}, { tx });
  expect([enqueueIn, enqueueIn3]).toHaveLength(2);
  for (const store of stores) await store.close();
  await v3.end();
  await v4.end();
});
