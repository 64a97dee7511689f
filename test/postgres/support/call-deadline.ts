import type postgres from "postgres";
import { afterEach, expect, it } from "vitest";
import { StorageError } from "../../../src/errors.js";
import { isVersion4 } from "../../../src/storage/postgres/driver.js";
import type { PostgresStorage } from "../../../src/storage/postgres/index.js";
import { adminSql, describePostgres, newPostgresStorage } from "../../support/postgres.js";
import { claimAny, newJob } from "../fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The store's current pool (private): what the deadline replaces. */
const poolOf = (storage: PostgresStorage) => (storage as unknown as { pool: { sql: postgres.Sql } }).pool.sql;

/**
 * The call deadline and the pool's replacement, on the store's own pool of postgres.js `major` (the
 * file calling this makes `postgres` resolve to that major). A replaced 3.4 pool is handed the array
 * types the old one loaded, so it never loads them under fire; postgres.js 4 loads them once per
 * pool, only for a statement that needs them, and has nothing to hand over.
 */
export function describeCallDeadline(major: 3 | 4): void {
  /** The pool is of the major this run is about, and a 3.4 one will not load the array types. */
  const expectDriverOf = (pool: postgres.Sql) => {
    expect(isVersion4(pool)).toBe(major === 4);
    if (major === 3) expect(pool.options.fetch_types).toBe(false);
  };

  describePostgres(`PostgresStorage on postgres.js ${major === 3 ? "3.4" : "4"}: a deadline on every call`, () => {
    it("fails a call that gets no answer within callTimeoutMs, replaces the pool, and serves the next call", async () => {
      const { storage, schema, cleanup } = await newPostgresStorage({ listen: false, callTimeoutMs: 300 });
      cleanups.push(cleanup);
      const job = newJob();
      await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
      const before = poolOf(storage);
      // Another session holds the table, so the claim waits: as unanswered as a dead connection.
      const admin = adminSql();
      cleanups.push(() => admin.end({ timeout: 5 }));
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked: () => void = () => undefined;
      const lockTaken = new Promise<void>((resolve) => (locked = resolve));
      const locking = admin.begin(async (tx) => {
        await tx`lock table ${tx(schema)}.jobs in access exclusive mode`;
        locked();
        await held;
      });
      cleanups.push(async () => {
        release();
        await locking.catch(() => undefined);
      });
      await lockTaken;
      const claim = claimAny(storage);
      await expect(claim).rejects.toBeInstanceOf(StorageError);
      await expect(claim).rejects.toThrow(/no answer from PostgreSQL within 300 ms/);
      expect(poolOf(storage)).not.toBe(before);
      release();
      await locking;
      // The fresh pool answers (on 3.4, with the array types the old one loaded: no reload under fire).
      expectDriverOf(poolOf(storage));
      const { claimed } = await claimAny(storage);
      expect(claimed.map((c) => c.job.id)).toEqual([job.id]);
      expect((await storage.getJob(job.id))?.dependsOn).toEqual([]);
    });

    it("reads arrays on a replaced pool (on 3.4 without loading the types again)", async () => {
      const { storage, cleanup } = await newPostgresStorage({ listen: false });
      cleanups.push(cleanup);
      const parent = newJob();
      const child = newJob({ dependsOn: [parent.id] });
      await storage.insertJobs({ jobs: [parent, child], onDuplicate: "reject", now: new Date() });
      storage.resetConnections();
      expectDriverOf(poolOf(storage));
      expect((await storage.getJob(child.id))?.dependsOn).toEqual([parent.id]);
      const { claimed } = await claimAny(storage);
      expect(claimed.map((c) => c.job.id)).toEqual([parent.id]);
    });
  });
}
