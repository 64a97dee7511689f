import { afterEach, beforeEach, expect, it } from "vitest";
import { InvalidStateError } from "../../src/errors.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { attemptError, claimRequest, newJob } from "../storage/builders.js";
import { databaseUrl, describePostgres, eventually } from "../support/postgres.js";
import { PostgresQueues } from "./support/queues.js";

let pg: PostgresQueues;
beforeEach(() => {
  pg = new PostgresQueues();
});
afterEach(async () => {
  await pg.cleanup();
});

describePostgres("Queue on PostgresStorage: rescue and batches", () => {
  it("a job rescued from a dead worker keeps its place in line: it runs before the jobs enqueued after it", async () => {
    const producer = await pg.producer();
    const first = await producer.enqueue("transfer", { n: 0 });
    // A worker claims it and dies: nothing renews its lease.
    const dead = new PostgresStorage({ connectionString: databaseUrl, schema: pg.schema, max: 1, listen: false });
    try {
      const { claimed } = await dead.claimJobs(claimRequest(["transfer"], { limit: 1, leaseMs: 300 }));
      expect(claimed.map((c) => c.job.id)).toEqual([first.id]);
    } finally {
      await dead.close();
    }
    for (let n = 1; n <= 3; n++) await producer.enqueue("transfer", { n });

    // A queue without handlers only rescues.
    const rescuer = await pg.worker({ rescueIntervalMs: 50 });
    await eventually(async () => ((await rescuer.getJob(first.id))?.status === "pending" ? true : undefined), "the rescue");
    expect(await rescuer.getJob(first.id)).toMatchObject({ attempt: 1, error: { code: "LEASE_EXPIRED" } });

    const order: number[] = [];
    const worker = pg.queue({ concurrency: 1 });
    worker.defineHandler("transfer", { run: (payload) => { order.push((payload as { n: number }).n); } });
    await worker.start();
    await eventually(() => (order.length === 4 ? true : undefined), "all four jobs", 20_000);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it("rejects a batch whose jobs share an idempotency key as VALIDATION; nothing is stored", async () => {
    const producer = await pg.producer();
    await expect(
      producer.enqueueMany([
        { key: "a", type: "settle", idempotencyKey: "k-1" },
        { key: "b", type: "settle", idempotencyKey: "k-1" },
      ]),
    ).rejects.toMatchObject({ code: "VALIDATION", issues: [{ path: "[1].idempotencyKey" }] });
    expect((await producer.listJobs()).jobs).toEqual([]);
  });

  it("retrying a job and its failed dependency at once, from two stores: the job never becomes runnable before the dependency", async () => {
    const stores = [0, 1].map(() => new PostgresStorage({ connectionString: databaseUrl, schema: pg.schema, max: 2, listen: false }));
    try {
      await stores[0]!.setup();
      for (let round = 0; round < 5; round++) {
        const dependency = newJob({ type: `dep.${round}` });
        const job = newJob({ type: `job.${round}`, dependsOn: [dependency.id] });
        await stores[0]!.insertJobs({ jobs: [dependency, job], onDuplicate: "reject", now: new Date() });
        const [claimed] = (await stores[0]!.claimJobs(claimRequest([`dep.${round}`]))).claimed;
        await stores[0]!.settle([{ lease: claimed!.lease, outcome: { type: "failed", error: attemptError() } }], new Date());

        const [ofJob, ofDependency] = await Promise.allSettled([stores[0]!.retryJob(job.id, new Date()), stores[1]!.retryJob(dependency.id, new Date())]);
        expect(ofDependency.status).toBe("fulfilled");
        // Refused either way: first because the dependency is failed, or after it because the job is blocked again.
        expect(ofJob.status === "rejected" && ofJob.reason instanceof InvalidStateError).toBe(true);
        expect((await stores[0]!.getJob(job.id))?.status).toBe("blocked");
        expect((await stores[0]!.getJob(dependency.id))?.status).toBe("pending");
      }
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });
});
