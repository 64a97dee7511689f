import { afterEach, expect, it } from "vitest";
import { Queue } from "../../src/queue.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { databaseUrl, describePostgres, dropSchema, eventually, freshSchemaName } from "../support/postgres.js";
import { deferred } from "../queue/support.js";

// A handler that enqueues, in its ctx.tx, a job depending on a running job holds that job's row
// (FOR SHARE) until its transaction ends. A cancel waiting for that row must fail on its own after the
// store's lock wait (half the call deadline), not hit the deadline, which replaces the pool and so
// ends every attempt transaction on it: another handler's writes lost, its job run again. A settle
// waits on in such pieces, each a call of its own: it must not give up (its job would run again).

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const CALL_TIMEOUT_MS = 1_500;

function queueOn(schema: string): Queue {
  const storage = new PostgresStorage({ connectionString: databaseUrl, schema, max: 4, callTimeoutMs: CALL_TIMEOUT_MS });
  const queue = new Queue({ storage, pollIntervalMs: 100, shutdownGraceMs: 500, logger: false, leaseMs: 60_000 });
  cleanups.push(async () => {
    await queue.shutdown().catch(() => undefined);
    await storage.close();
  });
  return queue;
}

/** The statement of `ctx.tx` the handler runs after holding it: its error, if its transaction is gone. */
async function stillUsable(tx: unknown): Promise<string | undefined> {
  try {
    await (tx as (s: TemplateStringsArray) => Promise<unknown>)`select 1`;
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

async function finished(queue: Queue, id: string) {
  return eventually(async () => {
    const job = await queue.getJob(id).catch(() => undefined);
    return job !== undefined && ["completed", "failed", "cancelled"].includes(job.status) ? job : undefined;
  }, `job ${id} to finish`, 20_000);
}

describePostgres("rows held by an attempt's ctx.tx", () => {
  it("a settle that waits for one longer than the call deadline ends no transaction, and is stored once, when the row is free", async () => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const queue = queueOn(schema);
    const errors: string[] = [];
    queue.on("queue:error", ({ error }) => errors.push(error instanceof Error ? error.message : String(error)));
    const releaseFetch = deferred();
    const enqueued = deferred();
    let fetchRuns = 0;
    let txError: string | undefined = "not run";
    queue.defineHandler("fetch", { run: async () => { fetchRuns++; await releaseFetch.promise; return 1; } });
    queue.defineHandler("report", { run: () => "ok" });
    queue.defineHandler("batch", {
      retry: { maxAttempts: 1 },
      run: async (payload, ctx) => {
        await queue.enqueue("report", {}, { dependsOn: [(payload as { fetchId: string }).fetchId], tx: ctx.tx as never });
        enqueued.resolve();
        // Three call deadlines, in the same transaction, holding fetch's row.
        await new Promise((resolve) => setTimeout(resolve, 3 * CALL_TIMEOUT_MS));
        txError = await stillUsable(ctx.tx);
        return "done";
      },
    });
    await queue.start();
    const fetch = await queue.enqueue("fetch", {});
    await eventually(async () => ((await queue.getJob(fetch.id))?.status === "running" ? true : undefined), "fetch to run");
    const batch = await queue.enqueue("batch", { fetchId: fetch.id });
    await enqueued.promise;
    releaseFetch.resolve(); // its settle waits for the row batch's transaction holds
    expect((await finished(queue, batch.id)).status).toBe("completed");
    expect(txError).toBeUndefined();
    const fetched = await finished(queue, fetch.id);
    expect({ status: fetched.status, attempt: fetched.attempt, fetchRuns }).toEqual({ status: "completed", attempt: 1, fetchRuns: 1 });
    expect(errors).toEqual([]);
  }, 40_000);

  it.each(["another process", "the worker's own queue"] as const)("a cancel from %s of a job whose ctx.tx holds its own row fails alone and ends no transaction", async (from) => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const worker = queueOn(schema);
    const inserted = deferred();
    const gate = deferred();
    let aborted = false;
    let txError: string | undefined = "not run";
    worker.defineHandler("pay", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        // A continuation of this very job, enqueued in its transaction: it holds the job's row.
        await worker.enqueue("notify", {}, { dependsOn: [ctx.job.id], tx: ctx.tx as never });
        inserted.resolve();
        ctx.signal.addEventListener("abort", () => {
          aborted = true;
          gate.resolve();
        });
        await gate.promise;
        txError = await stillUsable(ctx.tx);
        return "paid";
      },
    });
    worker.defineHandler("notify", { run: () => "ok" });
    await worker.start();
    const canceller = from === "another process" ? queueOn(schema) : worker;
    const job = await worker.enqueue("pay", {});
    await inserted.promise;
    const answer = await canceller.cancel(job.id).then((record) => record.status, (error: unknown) => error as Error & { code?: string });
    gate.resolve();
    const final = await finished(worker, job.id);
    // Refused after the lock wait, with a typed error, changing nothing; the pool stays, and the
    // handler's transaction with it. (Stopping the attempt locally instead would say "accepted" for a
    // request the store never recorded.)
    expect(answer).toMatchObject({ code: "STORAGE" });
    expect((answer as Error).message).not.toContain("pool was replaced");
    expect(aborted).toBe(false);
    expect(txError).toBeUndefined();
    expect(final.status).toBe("completed");
  }, 30_000);
});
