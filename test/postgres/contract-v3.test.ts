import postgres3 from "postgres3";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { describeStorageContract } from "../storage/contract.js";
import { databaseUrl, dropSchema, freshSchemaName, postgresAvailable } from "../support/postgres.js";

// The contract again, on an application's own postgres.js 3.4 pool handed over as `sql`: the store
// must not rely on anything postgres.js 4 added or changed (parameter typing, options, `batch`).
if (postgresAvailable) {
  describeStorageContract("postgres, on an application's postgres.js 3.4 pool", async () => {
    const schema = freshSchemaName();
    const sql = postgres3(databaseUrl, { max: 4, onnotice: () => undefined });
    const storage = new PostgresStorage({ sql, schema });
    return {
      storage,
      cleanup: async () => {
        await sql.end({ timeout: 5 });
        await dropSchema(schema);
      },
    };
  });
}
