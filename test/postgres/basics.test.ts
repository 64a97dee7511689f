import { randomUUID } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import { DuplicateJobError, UnknownDependencyError, ValidationError } from "../../src/errors.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { PostgresStorage as Store } from "../../src/storage/postgres/index.js";
import { DEFAULT_BACKOFF } from "../../src/retry.js";
import type { NewJob } from "../../src/types.js";
import { describePostgres, newPostgresStorage } from "../support/postgres.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function store(): Promise<Store> {
  const made = await newPostgresStorage({ listen: false });
  cleanups.push(made.cleanup);
  return made.storage;
}

function job(fields: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(), type: "t", priority: "normal", payload: { n: 1 }, maxAttempts: 3, backoff: DEFAULT_BACKOFF, dependsOn: [],
    idempotencyKey: undefined, resources: {}, timeoutMs: undefined, runAt: new Date(Date.now() - 1_000), ...fields,
  };
}

const claim = (storage: Store, limit = 10) =>
  storage.claimJobs({ workerId: "w", types: ["t"], limit, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() });

describePostgres("PostgresStorage basics", () => {
  it("rejects unsafe schema names", () => {
    expect(() => new PostgresStorage({ schema: 'x"; drop table y; --' })).toThrow(ValidationError);
    expect(() => new PostgresStorage({ schema: "A" })).toThrow(ValidationError);
  });

  it("inserts, claims, completes and unblocks dependents", async () => {
    const storage = await store();
    const a = job();
    const b = job({ dependsOn: [a.id], payload: null });
    const inserted = await storage.insertJobs({ jobs: [a, b], onDuplicate: "reject", now: new Date() });
    expect(inserted.jobs.map((j) => [j.type, j.job.status])).toEqual([["inserted", "pending"], ["inserted", "blocked"]]);
    expect(inserted.jobs[1]?.job.payload).toBeNull();
    expect(inserted.jobs[1]?.job.dependsOn).toEqual([a.id]);

    const first = await claim(storage);
    expect(first.claimed.map((c) => c.job.id)).toEqual([a.id]);
    const lease = first.claimed[0]!.lease;
    expect(lease.attempt).toBe(1);

    const [settled] = await storage.settle([{ lease, outcome: { type: "completed", result: { ok: true } } }], new Date());
    expect(settled).toMatchObject({ type: "settled", unblocked: [b.id], cancelled: [] });
    expect((await storage.getJob(a.id))?.result).toEqual({ ok: true });
    expect((await storage.getJob(b.id))?.status).toBe("pending");

    const again = await storage.settle([{ lease, outcome: { type: "completed", result: null } }], new Date());
    expect(again).toEqual([{ type: "lost", jobId: a.id }]);

    const logs = await storage.listLogs(a.id);
    expect(logs.map((l) => l.message)).toEqual(["pending", "running", "completed"]);
    expect(logs[1]).toMatchObject({ kind: "status", attempt: 1, data: { from: "pending" } });
  });

  it("cascades failures and revives on retry", async () => {
    const storage = await store();
    const a = job();
    const b = job({ dependsOn: [a.id] });
    const c = job({ dependsOn: [b.id] });
    await storage.insertJobs({ jobs: [a, b, c], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claim(storage);
    const error = { name: "Error", message: "boom" };
    const [settled] = await storage.settle([{ lease: claimed[0]!.lease, outcome: { type: "failed", error } }], new Date());
    expect(settled).toMatchObject({ type: "settled", cancelled: [b.id, c.id] });
    expect((await storage.getJob(c.id))?.error).toEqual({ name: "DependencyFailedError", message: `dependency ${b.id} cancelled`, code: "DEPENDENCY_FAILED" });

    const late = job({ dependsOn: [a.id] });
    const [lateInserted] = (await storage.insertJobs({ jobs: [late], onDuplicate: "reject", now: new Date() })).jobs;
    expect(lateInserted?.job.status).toBe("cancelled");

    const retried = await storage.retryJob(a.id, new Date());
    expect(retried.job).toMatchObject({ status: "pending", attempt: 0, error: undefined });
    expect(retried.revived).toEqual(expect.arrayContaining([b.id, c.id, late.id]));
    expect((await storage.getJob(c.id))?.status).toBe("blocked");
  });

  it("checks dependencies and idempotency keys", async () => {
    const storage = await store();
    await expect(storage.insertJobs({ jobs: [job({ dependsOn: [randomUUID()] })], onDuplicate: "reject", now: new Date() })).rejects.toThrow(
      UnknownDependencyError,
    );
    const first = job({ idempotencyKey: "k" });
    await storage.insertJobs({ jobs: [first], onDuplicate: "reject", now: new Date() });
    await expect(storage.insertJobs({ jobs: [job({ idempotencyKey: "k" })], onDuplicate: "reject", now: new Date() })).rejects.toThrow(
      DuplicateJobError,
    );
    const dup = job({ idempotencyKey: "k" });
    const child = job({ dependsOn: [dup.id] });
    const result = await storage.insertJobs({ jobs: [dup, child], onDuplicate: "return-existing", now: new Date() });
    expect(result.jobs[0]).toMatchObject({ type: "existing", job: { id: first.id } });
    expect(result.jobs[1]?.job.dependsOn).toEqual([first.id]);
    expect((await storage.countJobs()).byStatus).toMatchObject({ pending: 1, blocked: 1 });
  });

  it("pages newest first with a cursor", async () => {
    const storage = await store();
    const jobs = Array.from({ length: 5 }, () => job());
    await storage.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
    const page1 = await storage.listJobs({ limit: 2 });
    const page2 = await storage.listJobs({ limit: 2, cursor: page1.nextCursor! });
    const page3 = await storage.listJobs({ limit: 2, cursor: page2.nextCursor! });
    expect([...page1.jobs, ...page2.jobs, ...page3.jobs].map((j) => j.id)).toEqual(jobs.map((j) => j.id).reverse());
    expect(page3.nextCursor).toBeUndefined();
  });
});
