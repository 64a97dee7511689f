import { afterEach, expect, it } from "vitest";
import { DuplicateJobError } from "../../src/errors.js";
import type { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { NewJob } from "../../src/types.js";
import { adminSql, describePostgres, newPostgresStorage } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";
import { blockedBy, heldInsert } from "./support/held-transaction.js";

// A retry that brings a keyed job back to life while an insert of the same key, not yet committed,
// holds it: the retry's look for live holders cannot see that insert, the unique index can.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const failure = { type: "failed", error: { name: "Error", message: "boom" } } as const;

async function setup() {
  const { storage, cleanup } = await newPostgresStorage({ listen: false });
  const admin = adminSql();
  cleanups.push(cleanup, () => admin.end({ timeout: 5 }));
  return { storage, admin };
}

/** A job stored and failed on its only claim. */
async function failedJob(storage: PostgresStorage, fields: Partial<NewJob>): Promise<NewJob> {
  const job = newJob(fields);
  await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
  await storage.settle([{ lease: (await claimAny(storage, 1)).claimed[0]!.lease, outcome: failure }], new Date());
  return job;
}

describePostgres("PostgreSQL retry beside an insert of the same idempotency key", () => {
  it("answers DuplicateJobError naming the holder once the insert commits, and leaves the job failed", async () => {
    const { storage, admin } = await setup();
    const failed = await failedJob(storage, { idempotencyKey: "K" });
    const other = newJob({ idempotencyKey: "K" });
    const inserting = await heldInsert(admin, storage, [other]);
    const retrying = storage.retryJob(failed.id, new Date()).catch((error: unknown) => error);
    // The restart waits on the insert's uncommitted entry in the unique index.
    await blockedBy(admin, [inserting.pid]);
    await inserting.commit();

    const outcome = await retrying;
    expect(outcome).toBeInstanceOf(DuplicateJobError);
    expect(outcome).toMatchObject({ code: "DUPLICATE_JOB", existingJobId: other.id, idempotencyKey: "K" });
    expect((await storage.getJob(failed.id))?.status).toBe("failed");
    expect((await storage.getJob(other.id))?.status).toBe("pending");
  });
});
