import { afterEach, expect, it, vi } from "vitest";
import { isVersion4 } from "../../src/storage/postgres/driver.js";
import { describePostgres } from "../support/postgres.js";
import { readAfterKillingTheOnlyConnection } from "./support/read-after-kill.js";

// The store's own pool on postgres.js 3.4 (an application whose installed `postgres` is 3.4): 3.4
// loads the array types with a query on every (re)connection, which a killed connection can hang
// for good, so the store stops it once the pool has them (`typesLoaded` in driver.ts).
vi.mock("postgres", async () => await import("postgres3"));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describePostgres("the store's own postgres.js 3.4 pool", () => {
  it("loads the array types once per pool: reconnected connections skip it and still read arrays", async () => {
    await readAfterKillingTheOnlyConnection(
      (cleanup) => cleanups.push(cleanup),
      (pool) => {
        expect(isVersion4(pool)).toBe(false);
        expect(pool.options.fetch_types).toBe(false);
      },
    );
  });
});
