import postgres from "postgres";
import { expect, it, vi } from "vitest";
import { isVersion4 } from "../../src/storage/postgres/driver.js";
import { databaseUrl } from "../support/postgres.js";

// The held-rows cases with the store's own pool on postgres.js 3.4 (the peer range allows it): a
// commit of ctx.tx waits for a held dependent in savepoints, whose failed statements postgres.js 3.4
// and 4 keep from failing the transaction around them in their own ways.
vi.mock("postgres", async () => await import("postgres3"));

it("makes the store's pools with postgres.js 3.4 in this file", async () => {
  const sql = postgres(databaseUrl, { max: 1 });
  expect(isVersion4(sql)).toBe(false);
  await sql.end({ timeout: 1 });
});

await import("./held-rows.test.js");
