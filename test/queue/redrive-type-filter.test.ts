import { afterEach, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/errors.js";
import { Queue } from "../../src/queue.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { Storage } from "../../src/storage/storage.js";
import { newPostgresStorage, postgresAvailable } from "../support/postgres.js";
import { attemptError, claimRequest, newJob } from "../storage/builders.js";

// An empty list of types would read as no filter at all: a redrive of "none of these types" would
// retry every failed job, those that failed on purpose among them. It is refused, as an empty list
// of statuses is, and so is a listing by it.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const stores: [string, () => Promise<Storage>][] = [
  ["memory", async () => new MemoryStorage()],
  ...(postgresAvailable
    ? [
        [
          "postgres",
          async () => {
            const { storage, cleanup } = await newPostgresStorage({ listen: false });
            cleanups.push(cleanup);
            return storage as Storage;
          },
        ] as [string, () => Promise<Storage>],
      ]
    : []),
];

async function failedJob(storage: Storage, type: string) {
  const job = newJob({ type });
  await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
  const { claimed } = await storage.claimJobs(claimRequest([type]));
  await storage.settle([{ lease: claimed[0]!.lease, outcome: { type: "failed", error: attemptError() } }], new Date());
  return job.id;
}

describe.each(stores)("an empty list of types on %s", (_name, make) => {
  it("is refused by retryMany and listJobs, and retries nothing", async () => {
    const storage = await make();
    const queue = new Queue({ storage, logger: false });
    cleanups.push(() => queue.shutdown());
    await queue.migrate();
    const payment = await failedJob(storage, "payments.settle");
    await expect(queue.retryMany({ type: [] })).rejects.toMatchObject({ code: "VALIDATION", message: expect.stringContaining("name at least one type") });
    await expect(queue.retryMany({ type: [] })).rejects.toBeInstanceOf(ValidationError);
    await expect(queue.listJobs({ type: [] })).rejects.toBeInstanceOf(ValidationError);
    expect((await queue.getJob(payment))?.status).toBe("failed");
    // A list that names the type still works.
    expect(await queue.retryMany({ type: ["payments.settle"] })).toBe(1);
  });
});
