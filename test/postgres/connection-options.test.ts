import postgres from "postgres";
import postgres3 from "postgres3";
import { afterEach, expect, it } from "vitest";
import { connectionOptionsOf } from "../../src/storage/postgres/driver.js";
import { databaseUrl, describePostgres } from "../support/postgres.js";

const ends: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const end of ends.splice(0)) await end();
});

/** A one-connection postgres.js 4 instance on `options`, as the change feed makes its own. */
function listenerLike(options: Record<string, unknown>): postgres.Sql {
  const sql = postgres({ ...options, max: 1, fetch_types: false } as postgres.Options<Record<string, never>>);
  ends.push(() => sql.end({ timeout: 5 }));
  return sql;
}

describePostgres("connectionOptionsOf: another instance of this store's postgres.js on an application pool's server", () => {
  it("reaches the server of a postgres.js 3.4 pool, whose parsed options postgres.js 4 cannot run on", async () => {
    const app = postgres3(databaseUrl, { max: 1, connection: { application_name: "jobgraph-options-v3" } });
    ends.push(() => app.end({ timeout: 5 }));
    const sql = listenerLike(connectionOptionsOf(app as unknown as postgres.Sql));
    const [row] = await sql<{ name: string }[]>`select current_setting('application_name') as name`;
    expect(row?.name).toBe("jobgraph-options-v3");
  });

  it("leaves out a postgres.js 4 pool's custom types by name, which a connection without fetch_types refuses", async () => {
    const types = { point: { to: "point", from: ["point"], serialize: String, parse: String } };
    const app = postgres(databaseUrl, { max: 1, types } as unknown as postgres.Options<Record<string, never>>);
    ends.push(() => app.end({ timeout: 5 }));
    const sql = listenerLike(connectionOptionsOf(app));
    const [row] = await sql<{ n: number }[]>`select 1 as n`;
    expect(row?.n).toBe(1);
  });
});
