import { afterEach, expect, it } from "vitest";
import { attemptError } from "../storage/builders.js";
import { describePostgres, newPostgresStorage } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";

// PostgreSQL compares uuids whatever their letters' case, and prints them in lower case: an id given
// in upper case names the same job in every call, wholly (the queue itself passes ids in lower case).

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function store() {
  const { storage, cleanup } = await newPostgresStorage({ listen: false });
  cleanups.push(cleanup);
  return storage;
}

describePostgres("PostgresStorage and ids in upper case", () => {
  it("retryJob brings back the job and the dependents its failure cancelled", async () => {
    const storage = await store();
    const failed = newJob();
    const dependent = newJob({ dependsOn: [failed.id] });
    await storage.insertJobs({ jobs: [failed, dependent], onDuplicate: "reject", now: new Date() });
    const { lease } = (await claimAny(storage, 1)).claimed[0]!;
    await storage.settle([{ lease, outcome: { type: "failed", error: attemptError() } }], new Date());
    expect((await storage.getJob(dependent.id))?.status).toBe("cancelled");

    const result = await storage.retryJob(failed.id.toUpperCase(), new Date());
    expect(result.job.id).toBe(failed.id.toLowerCase());
    expect(result.revived).toEqual([dependent.id.toLowerCase()]);
    expect((await storage.getJob(failed.id))?.status).toBe("pending");
    expect((await storage.getJob(dependent.id))?.status).toBe("blocked");
  });

  it("cancelJobs cancels the job getJob finds, and names it as PostgreSQL prints it", async () => {
    const storage = await store();
    const waiting = newJob({ runAt: new Date(Date.now() + 3_600_000) });
    await storage.insertJobs({ jobs: [waiting], onDuplicate: "reject", now: new Date() });
    expect(await storage.getJob(waiting.id.toUpperCase())).toBeDefined();
    const result = await storage.cancelJobs([waiting.id.toUpperCase()], new Date());
    expect(result).toEqual({ cancelled: [waiting.id.toLowerCase()], cancelRequested: [], notFound: [] });
    expect((await storage.getJob(waiting.id))?.status).toBe("cancelled");
  });
});
