import { Queue } from "../../../src/queue.js";
import { PostgresStorage } from "../../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, eventually } from "../../support/postgres.js";
import { newJob } from "../fixtures.js";
import { heldInsert } from "./held-transaction.js";

/** The call deadline of the held-rows tests: its half, the store's lock wait, is short. */
export const CALL_TIMEOUT_MS = 1_500;

/**
 * A queue on `schema` with a short call deadline and a long lease (no rescue meanwhile), its
 * shutdown and its store's close pushed to `cleanups`.
 */
export function heldRowsQueue(cleanups: (() => Promise<void>)[], schema: string, callTimeoutMs = CALL_TIMEOUT_MS): Queue {
  const storage = new PostgresStorage({ connectionString: databaseUrl, schema, max: 4, callTimeoutMs });
  const queue = new Queue({ storage, pollIntervalMs: 100, shutdownGraceMs: 500, logger: false, leaseMs: 60_000 });
  cleanups.push(async () => {
    await queue.shutdown().catch(() => undefined);
    await storage.close();
  });
  return queue;
}

/** The job `id` once finished (completed, failed or cancelled). */
export async function finished(queue: Queue, id: string) {
  return eventually(async () => {
    const job = await queue.getJob(id).catch(() => undefined);
    return job !== undefined && ["completed", "failed", "cancelled"].includes(job.status) ? job : undefined;
  }, `job ${id} to finish`, 20_000);
}

/**
 * A charge and its receipt (which waits for it) enqueued on `queue`, with a `jobs_ledger (n int)`
 * table for the charge's handler to write, and an application's transaction that enqueued an audit
 * after the receipt: it holds the receipt's row, which the charge's settle must lock to unblock it,
 * until `holder.commit()`. The queue is not started.
 */
export async function chargeWithHeldReceipt(cleanups: (() => Promise<void>)[], queue: Queue, schema: string) {
  await queue.migrate();
  const setup = adminSql();
  await setup`create table ${setup(schema)}.jobs_ledger (n int)`;
  await setup.end({ timeout: 5 });
  const [charge, receipt] = await queue.enqueueMany([
    { key: "charge", type: "charge", payload: {} },
    { key: "receipt", type: "receipt", payload: {}, dependsOn: ["charge"] },
  ]);
  const admin = adminSql();
  cleanups.push(() => admin.end({ timeout: 5 }));
  const holder = await heldInsert(admin, queue.storage as PostgresStorage, [newJob({ type: "audit", dependsOn: [receipt!.id] })]);
  return { charge: charge!, receipt: receipt!, admin, holder };
}
