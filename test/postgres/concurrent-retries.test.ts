import { afterEach, expect, it } from "vitest";
import { adminSql, describePostgres, newPostgresStorage } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";
import { heldInsert } from "./support/held-transaction.js";

// Failed jobs with dependents in common (a fan-in), retried at once: each retry locked its own job,
// then the shared dependents, then the other failed jobs as their dependencies, so every pair locked
// in opposite orders. Each cycle cost the server's deadlock check (1 s), and with ten or more at once
// retries ran out of their deadlock retries and reached the caller as a StorageError (40P01).

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const failure = { type: "failed", error: { name: "Error", message: "boom" } } as const;

describePostgres("concurrent retries of failed jobs sharing cascaded dependents", () => {
  it.each([
    [2, "no dependency"],
    [12, "no dependency"],
    [12, "a completed dependency in common"],
  ] as const)("%i failed jobs with %s retried at once all come back, and their shared dependents with them", async (k, above) => {
    const { storage, cleanup } = await newPostgresStorage({ listen: false, max: 20 });
    cleanups.push(cleanup);
    const source = newJob({ type: "source" });
    if (above !== "no dependency") {
      await storage.insertJobs({ jobs: [source], onDuplicate: "reject", now: new Date() });
      const [lease] = (await storage.claimJobs({ workerId: "w", types: ["source"], limit: 1, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() })).claimed;
      await storage.settle([{ lease: lease!.lease, outcome: { type: "completed", result: null } }], new Date());
    }
    const roots = Array.from({ length: k }, () => newJob({ dependsOn: above === "no dependency" ? [] : [source.id] }));
    await storage.insertJobs({ jobs: roots, onDuplicate: "reject", now: new Date() });
    const shared = newJob({ type: "post", dependsOn: roots.map((root) => root.id) });
    const reversed = newJob({ type: "post", dependsOn: roots.map((root) => root.id).reverse() });
    await storage.insertJobs({ jobs: [shared, reversed], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage, k);
    expect(claimed).toHaveLength(k);
    await storage.settle(claimed.map((c) => ({ lease: c.lease, outcome: failure })), new Date());
    expect((await storage.getJob(shared.id))?.status).toBe("cancelled");

    const results = await Promise.allSettled(roots.map((root) => storage.retryJob(root.id, new Date())));
    const errors = results.flatMap((result) => (result.status === "rejected" ? [String(result.reason)] : []));
    expect(errors).toEqual([]);
    const after = await storage.getJobs([...roots.map((root) => root.id), shared.id, reversed.id]);
    expect(after.map((job) => job.status).sort()).toEqual([...Array<string>(k).fill("pending"), "blocked", "blocked"].sort());
    // Each dependent came back once, by one of the retries, waiting for all its dependencies again.
    const revived = results.flatMap((result) => (result.status === "fulfilled" ? result.value.revived : []));
    expect(revived.sort()).toEqual([shared.id, reversed.id].sort());
  }, 120_000);

  it("a retry is not held up by an open transaction that enqueued a job after its completed dependency", async () => {
    // A short call deadline: a retry that waited for the holder would fail after half of it.
    const { storage, cleanup } = await newPostgresStorage({ listen: false, callTimeoutMs: 2_000 });
    cleanups.push(cleanup);
    const parent = newJob({ type: "parent" });
    await storage.insertJobs({ jobs: [parent], onDuplicate: "reject", now: new Date() });
    const [parentLease] = (await storage.claimJobs({ workerId: "w", types: ["parent"], limit: 1, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() })).claimed;
    await storage.settle([{ lease: parentLease!.lease, outcome: { type: "completed", result: null } }], new Date());
    const child = newJob({ dependsOn: [parent.id] });
    await storage.insertJobs({ jobs: [child], onDuplicate: "reject", now: new Date() });
    const [childLease] = (await claimAny(storage, 1)).claimed;
    await storage.settle([{ lease: childLease!.lease, outcome: failure }], new Date());
    const admin = adminSql();
    cleanups.push(() => admin.end({ timeout: 5 }));
    // The application's insert share-locks the parent until it commits; the retry share-locks it too.
    const holder = await heldInsert(admin, storage, [newJob({ type: "sibling", dependsOn: [parent.id] })]);
    const answer = await storage.retryJob(child.id, new Date()).then((result) => result.job.status, (error: unknown) => String(error));
    await holder.commit();
    expect(answer).toBe("pending");
  });
});
