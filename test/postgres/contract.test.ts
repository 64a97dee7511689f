import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { describeStorageContract } from "../storage/contract.js";
import { databaseUrl, dropSchema, freshSchemaName, postgresAvailable } from "../support/postgres.js";

// The suite calls setup() and close(); each test gets its own schema, dropped afterwards.
if (postgresAvailable) {
  describeStorageContract("postgres", async () => {
    const schema = freshSchemaName();
    const storage = new PostgresStorage({ connectionString: databaseUrl, schema, max: 4 });
    return { storage, cleanup: () => dropSchema(schema) };
  });
}
