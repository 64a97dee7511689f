import { afterEach, expect, it } from "vitest";
import { Queue, SchemaNotMigratedError, ValidationError } from "../../src/index.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, describePostgres, dropSchema, freshSchemaName } from "../support/postgres.js";

describePostgres("errors that say what to do (PostgresStorage)", () => {
  const opened: { storage: PostgresStorage; schema: string }[] = [];
  afterEach(async () => {
    for (const { storage, schema } of opened.splice(0)) {
      await storage.close();
      await dropSchema(schema);
    }
  });
  const store = (schema = freshSchemaName()) => {
    const storage = new PostgresStorage({ connectionString: databaseUrl, schema, listen: false, max: 2 });
    opened.push({ storage, schema });
    return storage;
  };

  it("enqueue before any migration: SchemaNotMigratedError naming the schema and queue.migrate()", async () => {
    const storage = store();
    const queue = new Queue({ storage });
    const err = await queue.enqueue("t", { n: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaNotMigratedError);
    expect((err as SchemaNotMigratedError).code).toBe("SCHEMA_NOT_MIGRATED");
    expect((err as Error).message).toContain("queue.migrate()");
    expect((err as Error).message).toContain(storage.schema);
    expect((err as { cause?: { code?: string } }).cause?.code).toBe("42P01");
    // Once migrated, the same call works.
    await queue.migrate();
    expect((await queue.enqueue("t", { n: 1 })).status).toBe("pending");
    await queue.shutdown();
  });

  it("a schema that exists without jobgraph's tables: SchemaNotMigratedError too", async () => {
    const schema = freshSchemaName();
    const sql = adminSql();
    await sql`create schema ${sql(schema)}`;
    await sql.end();
    const queue = new Queue({ storage: store(schema) });
    await expect(queue.listJobs()).rejects.toBeInstanceOf(SchemaNotMigratedError);
    await queue.shutdown();
  });

  it("without a connectionString or sql: a ValidationError, no connection to postgres.js's defaults", () => {
    for (const options of [{}, { connectionString: undefined }, { schema: "jobgraph" }]) {
      let caught: unknown;
      try {
        new PostgresStorage(options);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ValidationError);
      expect((caught as ValidationError).issues).toEqual([{ path: "connectionString", message: expect.stringContaining("connectionString") }]);
    }
  });

  it("tx that is not a transaction (a plain pool) is refused before anything is stored", async () => {
    const storage = store();
    await storage.setup();
    const queue = new Queue({ storage });
    const sql = adminSql();
    try {
      // A pool has no savepoint: the type refuses it too.
      // @ts-expect-error a postgres.js Sql is not a TransactionSql
      await expect(queue.enqueue("t", {}, { tx: sql })).rejects.toBeInstanceOf(ValidationError);
      expect((await queue.listJobs()).jobs).toHaveLength(0);
    } finally {
      await sql.end();
      await queue.shutdown();
    }
  });
});
