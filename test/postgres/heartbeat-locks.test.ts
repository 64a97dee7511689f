import { afterEach, expect, it } from "vitest";
import { adminSql, describePostgres, newPostgresStorage } from "../support/postgres.js";
import { deferred } from "../queue/support.js";
import { eventually } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

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
    await storage.claimJobs({ workerId: "w", types: ["t"], limit: 1, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 50, now: new Date() });
    const expired = await eventually(async () => {
      const found = await storage.findExpiredLeases(new Date(), 10);
      return found.length > 0 ? found : undefined;
    }, "the lease to expire");
    const rescue = expired.map(({ job: record, lease }) => ({
      lease, job: record, onlyIfExpired: true, outcome: { type: "retry", error: { name: "LeaseExpired", message: "lease expired" }, runAt: new Date() } as const,
    }));
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

