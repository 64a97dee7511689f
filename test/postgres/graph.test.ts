import { afterEach, beforeEach, expect, it } from "vitest";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { claimRequest } from "../storage/builders.js";
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
});
