import type postgres from "postgres";
import { afterEach, expect, it } from "vitest";
import type { PostgresStorage } from "../../src/storage/postgres/index.js";
import { deleteUnkept, lockExpiredJobs } from "../../src/storage/postgres/sql/retention.js";
import type { JobRecord, NewJob } from "../../src/types.js";
import { adminSql, describePostgres, newPostgresStorage } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";
import { blockedBy, heldInsert, heldTransaction, type HeldTransaction } from "./support/held-transaction.js";

// Retention beside a write that gives a finished job a dependent (an insert, a retry) and commits
// after the retention's snapshot but before its lock: the job must stay, with its edge.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const failure = { type: "failed", error: { name: "Error", message: "boom" } } as const;
const everythingBefore = () => new Date(Date.now() + 3_600_000);

async function setup() {
  const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
  const admin = adminSql();
  cleanups.push(cleanup, () => admin.end({ timeout: 5 }));
  return { storage, schema, admin };
}

/** Inserts `job`, claims it (the only runnable job) and settles it as `outcome` says. */
async function finish(storage: PostgresStorage, job: NewJob, outcome: "completed" | "failed"): Promise<void> {
  await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
  await settleOnlyRunnable(storage, outcome);
}

async function settleOnlyRunnable(storage: PostgresStorage, outcome: "completed" | "failed"): Promise<void> {
  const { claimed } = await claimAny(storage, 1);
  expect(claimed).toHaveLength(1);
  await storage.settle([{ lease: claimed[0]!.lease, outcome: outcome === "completed" ? { type: "completed", result: null } : failure }], new Date());
}

/**
 * Makes every DELETE on the store's jobs wait, once its snapshot is taken, until the returned
 * transaction commits: a statement-level BEFORE trigger waits for an advisory lock it holds. This
 * widens to the test's liking the window in which a commit is invisible to the statement.
 */
async function holdDeletes(admin: postgres.Sql, schema: string): Promise<HeldTransaction> {
  await admin`
    create function ${admin(schema)}.hold_deletes() returns trigger language plpgsql
    as $$ begin perform pg_advisory_xact_lock(hashtext(tg_table_schema)); return null; end $$`;
  await admin`create trigger hold_deletes before delete on ${admin(schema)}.jobs for each statement execute function ${admin(schema)}.hold_deletes()`;
  return heldTransaction(admin, (tx) => tx`select pg_advisory_xact_lock(hashtext(${schema}))`);
}

/** The job as stored, or undefined once deleted. */
async function stored(storage: PostgresStorage, id: string): Promise<JobRecord | undefined> {
  return (await storage.getJobs([id]))[0];
}

describePostgres("PostgreSQL retention beside a dependent committed while it ran", () => {
  it("keeps a completed job whose dependent was inserted and committed while the deletion ran", async () => {
    const { storage, schema, admin } = await setup();
    const x = newJob();
    await finish(storage, x, "completed");
    // Always something to delete, so the deletion runs (and waits) whichever way it chooses.
    const old = newJob();
    await finish(storage, old, "completed");
    const hold = await holdDeletes(admin, schema);
    const d = newJob({ dependsOn: [x.id] });
    const inserting = await heldInsert(admin, storage, [d]);

    const pruning = storage.deleteFinishedJobs({ completedBefore: everythingBefore(), limit: 100 });
    await blockedBy(admin, [hold.pid]);
    await inserting.commit();
    await hold.commit();

    expect(await pruning).toBe(1);
    expect(await stored(storage, old.id)).toBeUndefined();
    expect(await stored(storage, x.id)).toMatchObject({ status: "completed" });
    expect(await stored(storage, d.id)).toMatchObject({ status: "pending", dependsOn: [x.id] });
  });

  it("keeps a completed job whose failed dependent a retry made pending while the deletion ran", async () => {
    const { storage, schema, admin } = await setup();
    const x = newJob();
    const d = newJob({ dependsOn: [x.id] });
    await storage.insertJobs({ jobs: [x, d], onDuplicate: "reject", now: new Date() });
    await settleOnlyRunnable(storage, "completed");
    await settleOnlyRunnable(storage, "failed");
    const old = newJob();
    await finish(storage, old, "completed");
    const hold = await holdDeletes(admin, schema);
    // The retry share-locks x, then waits for d, which the test holds.
    const holdingD = await heldTransaction(admin, (tx) => tx`select 1 from ${tx(schema)}.jobs where id = ${d.id}::uuid for update`);
    const retrying = storage.retryJob(d.id, new Date());
    await blockedBy(admin, [holdingD.pid]);

    const pruning = storage.deleteFinishedJobs({ completedBefore: everythingBefore(), limit: 100 });
    await blockedBy(admin, [hold.pid]);
    await holdingD.commit();
    await retrying;
    await hold.commit();

    expect(await pruning).toBe(1);
    expect(await stored(storage, x.id)).toMatchObject({ status: "completed" });
    expect(await stored(storage, d.id)).toMatchObject({ status: "pending", dependsOn: [x.id] });
  });

  it("keeps a failed job below which a dependent was inserted (cancelled) and committed while the deletion ran", async () => {
    const { storage, schema, admin } = await setup();
    const x = newJob();
    await finish(storage, x, "failed");
    const old = newJob();
    await finish(storage, old, "failed");
    const hold = await holdDeletes(admin, schema);
    const d = newJob({ dependsOn: [x.id] });
    const inserting = await heldInsert(admin, storage, [d]);

    const pruning = storage.deleteFinishedJobs({ failedBefore: everythingBefore(), limit: 100 });
    await blockedBy(admin, [hold.pid]);
    await inserting.commit();
    await hold.commit();

    expect(await pruning).toBe(1);
    expect(await stored(storage, x.id)).toMatchObject({ status: "failed" });
    expect(await stored(storage, d.id)).toMatchObject({ status: "cancelled", dependsOn: [x.id] });
  });

  it("deletes only the locked jobs that no dependent keeps by the deletion's own, later snapshot", async () => {
    const { storage, schema, admin } = await setup();
    const x = newJob();
    await finish(storage, x, "completed");
    const d = newJob({ dependsOn: [x.id] });
    await admin.begin(async (tx) => {
      const locked = await lockExpiredJobs(tx, schema, { completedBefore: everythingBefore(), failedBefore: null, cancelledBefore: null, limit: 10 });
      expect(locked.map((row) => row.id)).toEqual([x.id]);
      // A dependent the lock's snapshot did not see (here: written after it, by the same transaction).
      await storage.insertJobs({ jobs: [d], onDuplicate: "reject", now: new Date(), tx });
      expect((await deleteUnkept(tx, schema, [x.id])).count).toBe(0);
    });
    expect(await stored(storage, x.id)).toMatchObject({ status: "completed" });
  });
});
