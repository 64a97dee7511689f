import type postgres from "postgres";
import { expect } from "vitest";
import { adminSql, eventually, newPostgresStorage } from "../../support/postgres.js";
import { claimAny, newJob } from "../fixtures.js";

/**
 * A store with one connection whose only connection is killed between two reads of a job with a
 * dependency (an array read back): the second read must work on a new connection. `checkPool` looks
 * at the store's own pool first (its postgres.js version, its options). `register` takes the cleanup
 * at once, so a failing check leaves nothing open.
 */
export async function readAfterKillingTheOnlyConnection(register: (cleanup: () => Promise<void>) => void, checkPool: (pool: postgres.Sql) => void): Promise<void> {
  // One connection, so the one killed below is the one the next read must open again.
  const { storage, cleanup } = await newPostgresStorage({ listen: false, max: 1 });
  const sql = adminSql();
  register(async () => {
    await sql.end();
    await cleanup();
  });
  const parent = newJob();
  const child = newJob({ dependsOn: [parent.id] });
  await storage.insertJobs({ jobs: [parent, child], onDuplicate: "reject", now: new Date() });
  expect((await storage.getJob(child.id))?.dependsOn).toEqual([parent.id]);
  checkPool((storage as unknown as { pool: { sql: postgres.Sql } }).pool.sql);
  const attempt = storage.openAttemptTransaction((await claimAny(storage)).claimed[0]!.lease);
  const [backend] = await attempt.handle<{ pid: number }[]>`select pg_backend_pid() as pid`;
  await attempt.rollback();
  await sql`select pg_terminate_backend(pid) from pg_stat_activity where pid = ${backend!.pid}`;
  await eventually(async () => ((await storage.getJob(child.id).catch(() => undefined))?.dependsOn.length === 1 ? true : undefined), "a read after the reconnect");
  expect((await storage.getJob(child.id))?.dependsOn).toEqual([parent.id]);
}
