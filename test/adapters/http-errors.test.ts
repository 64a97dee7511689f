import { describe, expect, it } from "vitest";
import { toHttpFailure } from "../../adapters/http-errors.js";
import { SchemaNotMigratedError, StorageError } from "../../src/errors.js";

describe("toHttpFailure", () => {
  it("answers a store that was never migrated with 503 SCHEMA_NOT_MIGRATED, saying what to run", () => {
    const failure = toHttpFailure(new SchemaNotMigratedError("jobgraph", new Error("relation does not exist")));
    expect(failure?.status).toBe(503);
    expect(failure?.body.error).toMatchObject({ code: "SCHEMA_NOT_MIGRATED", message: expect.stringContaining("queue.migrate()") });
    expect(JSON.stringify(failure)).not.toContain("relation does not exist");
  });

  it("leaves other storage errors to the generic 500", () => {
    expect(toHttpFailure(new StorageError("PostgreSQL operation failed (XX000)", new Error("boom")))).toBeUndefined();
  });
});
