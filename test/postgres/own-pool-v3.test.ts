import postgres from "postgres";
import { describe, expect, it, vi } from "vitest";
import { isVersion4 } from "../../src/storage/postgres/driver.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { describeStorageContract } from "../storage/contract.js";
import { databaseUrl, dropSchema, freshSchemaName, postgresAvailable } from "../support/postgres.js";

// An application whose installed `postgres` is 3.4 gives the store's own pool (`connectionString`) that
// major too (the peer range allows it): here `postgres` resolves to the real postgres.js 3.4.
vi.mock("postgres", async () => await import("postgres3"));

describe("the store's own pool on postgres.js 3.4", () => {
  it("is made by postgres.js 3.4 in this file", async () => {
    const sql = postgres(databaseUrl, { max: 1 });
    expect(isVersion4(sql)).toBe(false);
    await sql.end({ timeout: 1 });
  });
});

if (postgresAvailable) {
  describeStorageContract("postgres, the store's own pool on postgres.js 3.4", async () => {
    const schema = freshSchemaName();
    const storage = new PostgresStorage({ connectionString: databaseUrl, schema, max: 4 });
    return { storage, cleanup: () => dropSchema(schema) };
  });
}
