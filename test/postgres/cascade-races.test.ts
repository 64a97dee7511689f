import type postgres from "postgres";
import { InvalidStateError } from "../../src/errors.js";
import { afterEach, expect, it } from "vitest";
import type { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { JobId, JobStatus, NewJob } from "../../src/types.js";
import { deferred } from "../queue/support.js";
import { adminSql, describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";
import { heldInsert } from "./support/held-transaction.js";

// Inserts that add a dependent below a job while a cascade (a failure's settle, a cancel) or a
// retry's revival is waiting for its locks: the jobs they add must be reached like the others.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const failure = { type: "failed", error: { name: "Error", message: "boom" } } as const;


/** Waits until some backend (the store's write) waits for a lock one of `pids` holds. */
async function blockedBy(admin: postgres.Sql, pids: readonly number[]): Promise<void> {
  await eventually(async () => {
    const [row] = await admin<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity a where a.pid <> pg_backend_pid() and pg_blocking_pids(a.pid) && ${pids as number[]}::int[]`;
    return (row?.n ?? 0) > 0 ? true : undefined;
  }, `a write waiting on ${pids.join(", ")}`);
}

async function statuses(storage: PostgresStorage, ids: readonly JobId[]): Promise<Record<JobId, JobStatus>> {
  return Object.fromEntries((await storage.getJobs(ids)).map((job) => [job.id, job.status]));
}

/** A job stored and failed on its only attempt. */
async function failedJob(storage: PostgresStorage): Promise<NewJob> {
  const job = newJob();
  await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
  await storage.settle([{ lease: (await claimAny(storage, 1)).claimed[0]!.lease, outcome: failure }], new Date());
  return job;
}

async function setup() {
  const { storage, cleanup } = await newPostgresStorage({ listen: false });
  const admin = adminSql();
  cleanups.push(cleanup, () => admin.end({ timeout: 5 }));
  return { storage, admin };
}

describePostgres("PostgreSQL cascades and revivals beside inserts below the jobs they reach", () => {
  it.each(["a failure's settle", "a cancel"] as const)(
    "%s cancels a dependent inserted below a job it had not locked yet while it waited",
    async (how) => {
      const { storage, admin } = await setup();
      const root = newJob();
      await storage.insertJobs({ jobs: [root], onDuplicate: "reject", now: new Date() });
      const lease = how === "a failure's settle" ? (await claimAny(storage, 1)).claimed[0]!.lease : undefined;
      const v = newJob({ dependsOn: [root.id] });
      const x = newJob({ dependsOn: [root.id] });
      const w = newJob({ dependsOn: [v.id] });
      // Two inserts below the root hold it (FOR SHARE): the write waits for both.
      const a = await heldInsert(admin, storage, [v]);
      const b = await heldInsert(admin, storage, [x]);
      const writing = lease === undefined ? storage.cancelJobs([root.id], new Date()) : storage.settle([{ lease, outcome: failure }], new Date());
      await blockedBy(admin, [a.pid, b.pid]);
      // v is stored while the write still waits; then w is inserted below v, which the write has not locked.
      await a.commit();
      const c = await heldInsert(admin, storage, [w]);
      await b.commit();
      await blockedBy(admin, [c.pid]);
      await c.commit();
      await writing;
      expect(await statuses(storage, [root.id, v.id, x.id, w.id])).toEqual({
        [root.id]: lease === undefined ? "cancelled" : "failed",
        [v.id]: "cancelled",
        [x.id]: "cancelled",
        [w.id]: "cancelled",
      });
    },
  );

  it("a cancel of a finished job neither locks nor waits for the jobs below its running dependent, which no cascade reaches", async () => {
    const { storage, admin } = await setup();
    const root = newJob();
    await storage.insertJobs({ jobs: [root], onDuplicate: "reject", now: new Date() });
    await storage.settle([{ lease: (await claimAny(storage, 1)).claimed[0]!.lease, outcome: { type: "completed", result: null } }], new Date());
    const running = newJob({ dependsOn: [root.id] });
    await storage.insertJobs({ jobs: [running], onDuplicate: "reject", now: new Date() });
    await claimAny(storage, 1);
    const below = newJob({ dependsOn: [running.id] });
    await storage.insertJobs({ jobs: [below], onDuplicate: "reject", now: new Date() });
    // Another transaction holds the blocked job below the running one until the cancel has answered.
    const release = deferred();
    const locked = deferred();
    const holder = admin.begin(async (tx) => {
      await tx`select 1 from ${tx(storage.schema)}.jobs where id = ${below.id}::uuid for update`;
      locked.resolve();
      await release.promise;
    });
    try {
      await locked.promise;
      expect(await storage.cancelJobs([root.id], new Date())).toEqual({ cancelled: [], cancelRequested: [], notFound: [] });
    } finally {
      release.resolve();
      await holder;
    }
    expect(await statuses(storage, [root.id, running.id, below.id])).toEqual({ [root.id]: "completed", [running.id]: "running", [below.id]: "blocked" });
  });

  it("a retry revives a dependent inserted (cancelled) below a job it had not locked yet while it waited", async () => {
    const { storage, admin } = await setup();
    const root = await failedJob(storage);
    const n = newJob({ dependsOn: [root.id] });
    await storage.insertJobs({ jobs: [n], onDuplicate: "reject", now: new Date() });
    // m goes in cancelled, below the cancelled n, in a transaction that holds n while the retry starts.
    const m = newJob({ dependsOn: [n.id] });
    const a = await heldInsert(admin, storage, [m]);
    const retrying = storage.retryJob(root.id, new Date());
    await blockedBy(admin, [a.pid]);
    await a.commit();
    expect((await retrying).revived).toEqual([n.id, m.id]);
    expect(await statuses(storage, [root.id, n.id, m.id])).toEqual({ [root.id]: "pending", [n.id]: "blocked", [m.id]: "blocked" });
  });

  it("refuses the retry of a job whose cancel cause was deleted by other means, naming it as deleted", async () => {
    const { storage, admin } = await setup();
    const cause = await failedJob(storage);
    const cancelled = newJob({ dependsOn: [cause.id] });
    await storage.insertJobs({ jobs: [cancelled], onDuplicate: "reject", now: new Date() });
    // Retention keeps it; a hand-run delete does not (its edge goes with it).
    await admin`delete from ${admin(storage.schema)}.jobs where id = ${cause.id}::uuid`;
    const refused = await storage.retryJob(cancelled.id, new Date()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InvalidStateError);
    expect(refused).toMatchObject({ dependency: { id: cause.id, status: "deleted" } });
    expect((await storage.getJob(cancelled.id))?.status).toBe("cancelled");
  });
});
