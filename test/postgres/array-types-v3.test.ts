import postgres from "postgres";
import { afterEach, expect, it, vi } from "vitest";
import { isVersion4 } from "../../src/storage/postgres/driver.js";
import { adminSql, describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";

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
    // One connection, so the one killed below is the one the next read must open again.
    const { storage, cleanup } = await newPostgresStorage({ listen: false, max: 1 });
    const sql = adminSql();
    cleanups.push(async () => {
      await sql.end();
      await cleanup();
    });
    const parent = newJob();
    const child = newJob({ dependsOn: [parent.id] });
    await storage.insertJobs({ jobs: [parent, child], onDuplicate: "reject", now: new Date() });
    expect((await storage.getJob(child.id))?.dependsOn).toEqual([parent.id]);
    const pool = (storage as unknown as { pool: { sql: postgres.Sql } }).pool.sql;
    expect(isVersion4(pool)).toBe(false);
    expect(pool.options.fetch_types).toBe(false);
    // Kill the pool's connection; the next read reconnects without loading the types again.
    const attempt = storage.openAttemptTransaction((await claimAny(storage)).claimed[0]!.lease);
    const [backend] = await attempt.handle<{ pid: number }[]>`select pg_backend_pid() as pid`;
    await attempt.rollback();
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where pid = ${backend!.pid}`;
    await eventually(async () => ((await storage.getJob(child.id).catch(() => undefined))?.dependsOn.length === 1 ? true : undefined), "a read after the reconnect");
    expect((await storage.getJob(child.id))?.dependsOn).toEqual([parent.id]);
  });
});
