import { afterEach, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import type { ResolvedQueueOptions } from "../../src/options.js";
import { LeaseBoundStorage } from "../../src/scheduler/lease-bound-storage.js";
import { Rescuer } from "../../src/scheduler/rescuer.js";
import type { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { Outcome, Settlement } from "../../src/storage/storage.js";
import { adminSql, describePostgres, newPostgresStorage } from "../support/postgres.js";
import { deferred } from "../queue/support.js";
import { eventually } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Leases all `count` waiting jobs of type "t" for 50 ms, and answers rescue settlements of them with `outcome` once expired. */
async function expiredRescues(storage: PostgresStorage, count: number, outcome: Outcome): Promise<Settlement[]> {
  await storage.claimJobs({ workerId: "w", types: ["t"], limit: count, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 50, now: new Date() });
  const expired = await eventually(async () => {
    const found = await storage.findExpiredLeases(new Date(), 100);
    return found.length === count ? found : undefined;
  }, "the leases to expire");
  return expired.map(({ job, lease }) => ({ lease, job, onlyIfExpired: true, outcome }));
}

const LEASE_EXPIRED_ERROR = { name: "LeaseExpired", message: "lease expired" };

describePostgres("PostgresStorage heartbeat beside a transaction holding a job's row", () => {
  it("extends the other leases at once, reports the held one as held, and extends it once the row is free", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage();
    cleanups.push(cleanup);
    await storage.insertJobs({ jobs: [newJob(), newJob()], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage, 2);
    const [busy, free] = claimed.map((c) => c.lease);
    if (busy === undefined || free === undefined) throw new Error("expected two claimed jobs");
    const admin = adminSql();
    const leaseOf = async (id: string) =>
      (await admin<{ at: Date }[]>`select lease_expires_at as at from ${admin(schema)}.jobs where id = ${id}::uuid`)[0]?.at.getTime();
    const before = { busy: await leaseOf(busy.jobId), free: await leaseOf(free.jobId) };
    // Another transaction holds the busy job's row (as a settle or an attempt's commit does) until told.
    const release = deferred();
    const locked = deferred();
    const holder = admin.begin(async (tx) => {
      await tx`select id from ${tx(schema)}.jobs where id = ${busy.jobId}::uuid for no key update`;
      locked.resolve();
      await release.promise;
    });
    try {
      await locked.promise;
      // A heartbeat that waited for the row would never answer while the holder holds it.
      const results = await storage.heartbeat([busy, free], 60_000, new Date());
      expect(results).toEqual([{ jobId: busy.jobId, state: "alive" }, { jobId: free.jobId, state: "alive" }]);
      expect(await leaseOf(free.jobId)).toBeGreaterThan(before.free ?? Number.POSITIVE_INFINITY);
      expect(await leaseOf(busy.jobId)).toBe(before.busy);
    } finally {
      release.resolve();
      await holder;
    }
    expect(await storage.heartbeat([busy], 120_000, new Date())).toEqual([{ jobId: busy.jobId, state: "alive" }]);
    expect(await leaseOf(busy.jobId)).toBeGreaterThan(before.busy ?? Number.POSITIVE_INFINITY);
    await admin.end({ timeout: 5 });
  });
});

describePostgres("PostgresStorage rescue beside a transaction holding a job's row", () => {
  it("does not wait for the row: answers lost, and rescues the job at a later pass once the row is free", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const job = newJob();
    await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    const rescue = await expiredRescues(storage, 1, { type: "retry", error: LEASE_EXPIRED_ERROR, runAt: new Date() });
    // An insert naming the running job (here, as the attempt's own ctx.tx would) share-locks its row.
    const admin = adminSql();
    const release = deferred();
    const locked = deferred();
    const holder = admin.begin(async (tx) => {
      await tx`select id from ${tx(schema)}.jobs where id = ${job.id}::uuid for share`;
      locked.resolve();
      await release.promise;
    });
    try {
      await locked.promise;
      // Nor does the next pass find it: held rows read first at every pass would fill its batches.
      expect(await storage.findExpiredLeases(new Date(), 10)).toEqual([]);
      // A rescue that waited for the holder would not answer while it holds the row.
      expect(await storage.settle(rescue, new Date())).toEqual([{ type: "lost", jobId: job.id }]);
      expect((await storage.getJob(job.id))?.status).toBe("running");
    } finally {
      release.resolve();
      await holder;
    }
    expect(await storage.settle(rescue, new Date())).toMatchObject([{ type: "settled", job: { id: job.id, status: "pending" } }]);
    await admin.end({ timeout: 5 });
  });
});


describePostgres("PostgresStorage rescue that cascades, beside transactions holding the dependents", () => {
  it("gives up waiting for a held dependent before a lock cycle forms, so the application's transaction never dies in a deadlock", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const root = newJob({ maxAttempts: 1 });
    // Two dependents, `first` locked before `second` (the rescue locks in id order).
    const [first, second] = [newJob({ dependsOn: [root.id] }), newJob({ dependsOn: [root.id] })].sort((a, b) => a.id.localeCompare(b.id));
    if (first === undefined || second === undefined) throw new Error("expected two dependents");
    await storage.insertJobs({ jobs: [root, first, second], onDuplicate: "reject", now: new Date() });
    const rescue = await expiredRescues(storage, 1, { type: "failed", error: LEASE_EXPIRED_ERROR });
    const admin = adminSql();
    cleanups.push(() => admin.end({ timeout: 5 }));
    const jobs = admin(schema);
    // Two application transactions, each holding one dependent (as an enqueue naming it does).
    const [holdsFirst, holdsSecond] = [await admin.reserve(), await admin.reserve()];
    cleanups.push(async () => {
      holdsFirst.release();
      holdsSecond.release();
    });
    const pidOf = async (connection: typeof holdsFirst) => (await connection<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
    const [firstPid, secondPid] = [await pidOf(holdsFirst), await pidOf(holdsSecond)];
    await holdsFirst`begin`;
    await holdsFirst`select id from ${jobs}.jobs where id = ${first.id}::uuid for share`;
    await holdsSecond`begin`;
    await holdsSecond`select id from ${jobs}.jobs where id = ${second.id}::uuid for share`;
    const blockedBy = async (pid: number) =>
      (await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity a where ${pid}::int = any(pg_blocking_pids(a.pid))`)[0]!.n > 0;
    const isWaiting = async (pid: number) =>
      (await admin<{ n: number }[]>`select cardinality(pg_blocking_pids(${pid}::int))::int as n`)[0]!.n > 0;

    // The rescue takes the root's row, then waits for the first dependent.
    let rescued: unknown;
    const rescuing = storage.settle(rescue, new Date()).then((result) => (rescued = result), (error: unknown) => (rescued = error));
    await eventually(async () => (rescued !== undefined || (await blockedBy(firstPid)) ? true : undefined), "the rescue to wait for the first dependent");
    // The second transaction now asks for the root (a second enqueue naming it) and waits for the rescue.
    let asked: unknown;
    const asking = holdsSecond`select id from ${jobs}.jobs where id = ${root.id}::uuid for share`.then(
      () => (asked = "locked"),
      (error: unknown) => (asked = error),
    );
    await eventually(async () => (asked !== undefined || (await isWaiting(secondPid)) ? true : undefined), "the second transaction to ask for the root");
    // The first lets go: a rescue still waiting would go on to wait for the second, closing the cycle.
    await holdsFirst`commit`;
    await asking;
    expect(asked).toBe("locked");
    await rescuing;
    expect(rescued).toEqual([{ type: "lost", jobId: root.id }]);
    await holdsSecond`commit`;
    expect((await storage.getJob(root.id))?.status).toBe("running");
    // With nothing held, the next pass rescues the root and cancels both dependents.
    expect(await storage.settle(rescue, new Date())).toMatchObject([{ type: "settled", job: { id: root.id, status: "failed" } }]);
    expect((await storage.getJobs([first.id, second.id])).map((job) => job.status)).toEqual(["cancelled", "cancelled"]);
  });
});

describePostgres("PostgresStorage rescue of a batch, one of whose dependents is held", () => {
  it("rescues the others of the batch, and leaves only the held one's job to its next pass", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const held = newJob({ maxAttempts: 1 });
    const free = newJob({ maxAttempts: 1 });
    const dependent = newJob({ dependsOn: [held.id] });
    await storage.insertJobs({ jobs: [held, free, dependent], onDuplicate: "reject", now: new Date() });
    const rescue = await expiredRescues(storage, 2, { type: "failed", error: LEASE_EXPIRED_ERROR });
    // An application transaction holds the dependent (an enqueue naming it) for longer than a rescue waits.
    const admin = adminSql();
    cleanups.push(() => admin.end({ timeout: 5 }));
    const release = deferred();
    const locked = deferred();
    const holder = admin.begin(async (tx) => {
      await tx`select id from ${tx(schema)}.jobs where id = ${dependent.id}::uuid for share`;
      locked.resolve();
      await release.promise;
    });
    try {
      await locked.promise;
      const results = await storage.settle(rescue, new Date());
      const byId = new Map(results.map((result) => [result.type === "lost" ? result.jobId : result.job.id, result.type]));
      expect(Object.fromEntries(byId)).toEqual({ [held.id]: "lost", [free.id]: "settled" });
      expect((await storage.getJob(held.id))?.status).toBe("running");
      expect((await storage.getJob(free.id))?.status).toBe("failed");
    } finally {
      release.resolve();
      await holder;
    }
    const [again] = await storage.settle(rescue.filter((r) => r.lease.jobId === held.id), new Date());
    expect(again).toMatchObject({ type: "settled", job: { status: "failed" }, cancelled: [dependent.id] });
  });
});

describePostgres("PostgresStorage rescue of a fan-in whose shared dependent is held", () => {
  it("answers a pass within the rescuer's call deadline, lost for the held ones, and rescues them once free", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const parents = Array.from({ length: 10 }, () => newJob({ maxAttempts: 1 }));
    const child = newJob({ dependsOn: parents.map((parent) => parent.id) });
    await storage.insertJobs({ jobs: [...parents, child], onDuplicate: "reject", now: new Date() });
    // A worker claimed them all, then died: every lease expires at once.
    await expiredRescues(storage, 10, { type: "failed", error: LEASE_EXPIRED_ERROR });
    const admin = adminSql();
    cleanups.push(() => admin.end({ timeout: 5 }));
    const release = deferred();
    const locked = deferred();
    const holder = admin.begin(async (tx) => {
      await tx`select id from ${tx(schema)}.jobs where id = ${child.id}::uuid for share`;
      locked.resolve();
      await release.promise;
    });
    // The rescuer's calls are bounded by a lease (here 2 s): each parent cascades to the held child,
    // so a pass that waited for it once per parent would be cut off, and the store's pool replaced.
    const rescuer = new Rescuer({
      storage: new LeaseBoundStorage(storage, systemClock, 2_000),
      options: { clock: systemClock, rescueIntervalMs: 60_000 } as ResolvedQueueOptions,
      reportSettled: async () => undefined,
      reportError: () => undefined,
    });
    try {
      await locked.promise;
      expect(await rescuer.rescueExpiredLeases().catch((error: unknown) => error)).toBe(0);
      expect((await storage.getJobs(parents.map((parent) => parent.id))).every((job) => job.status === "running")).toBe(true);
    } finally {
      release.resolve();
      await holder;
    }
    expect(await rescuer.rescueExpiredLeases()).toBe(10);
    expect((await storage.getJob(child.id))?.status).toBe("cancelled");
  });
});
