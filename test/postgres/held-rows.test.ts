import { randomUUID } from "node:crypto";
import type postgres from "postgres";
import { afterEach, expect, it } from "vitest";
import { Queue } from "../../src/queue.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, describePostgres, dropSchema, eventually, freshSchemaName } from "../support/postgres.js";
import { blockedBy, heldInsert, heldTransaction } from "./support/held-transaction.js";
import { newJob } from "./fixtures.js";
import { CALL_TIMEOUT_MS, chargeWithHeldReceipt, finished, heldRowsQueue } from "./support/held-rows-queue.js";
import { deferred } from "../queue/support.js";

// A handler that enqueues, in its ctx.tx, a job depending on a running job holds that job's row
// (FOR SHARE) until its transaction ends. A write waiting for that row must fail on its own after the
// store's lock wait (half the call deadline), not hit the deadline, which replaces the pool and so
// ends every attempt transaction on it: another handler's writes lost, its job run again. A settle
// waits on in such pieces, each a call of its own: it must not give up (its job would run again).
// A cancel held up by an attempt's own transaction asks the worker running that job to stop it,
// which frees the rows.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});


const queueOn = (schema: string, callTimeoutMs?: number): Queue => heldRowsQueue(cleanups, schema, callTimeoutMs);

/** The statement of `ctx.tx` the handler runs after holding it: its error, if its transaction is gone. */
async function stillUsable(tx: unknown): Promise<string | undefined> {
  try {
    await (tx as (s: TemplateStringsArray) => Promise<unknown>)`select 1`;
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
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

  it.each(["another process", "the worker's own queue"] as const)("a cancel from %s of a job whose ctx.tx holds its own row stops it: its transaction rolls back, no other one ends", async (from) => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const worker = queueOn(schema);
    const inserted = deferred();
    const bystanderInside = deferred();
    const bystanderGate = deferred();
    let aborted = false;
    let bystanderTxError: string | undefined = "not run";
    let bystanderMarks: number | undefined;
    worker.defineHandler("pay", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        // A continuation of this very job, enqueued in its transaction: it holds the job's row.
        await worker.enqueue("notify", {}, { dependsOn: [ctx.job.id], tx: ctx.tx as never });
        inserted.resolve();
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            resolve();
          }),
        );
        return "paid";
      },
    });
    worker.defineHandler("notify", { run: () => "ok" });
    // Another attempt's transaction, open throughout: it must outlive the cancel.
    worker.defineHandler("ledger", {
      run: async (_payload, ctx) => {
        // Its transaction carries the attempt's mark (a shared advisory lock) while it is open.
        const [row] = await (ctx.tx as (s: TemplateStringsArray, ...values: unknown[]) => Promise<{ n: number }[]>)`
          select count(*)::int as n from pg_locks where pid = pg_backend_pid() and locktype = 'advisory' and mode = 'ShareLock'
            and (classid::int, objid::int) = (hashtext(${`${schema}.attempt`}), hashtext(${ctx.job.id}))`;
        bystanderMarks = row?.n;
        bystanderInside.resolve();
        await bystanderGate.promise;
        bystanderTxError = await stillUsable(ctx.tx);
        return "posted";
      },
    });
    await worker.start();
    const canceller = from === "another process" ? queueOn(schema) : worker;
    const bystander = await worker.enqueue("ledger", {});
    await bystanderInside.promise;
    const job = await worker.enqueue("pay", {});
    await inserted.promise;
    const answer = await canceller.cancel(job.id).then((record) => record.status, (error: unknown) => error as Error);
    // The worker was asked to stop the job (its row could not take the request) and did: the
    // handler's transaction rolled back, freeing the row, and the cancel was stored.
    expect(answer).toMatch(/^(running|cancelled)$/);
    expect(aborted).toBe(true);
    const final = await finished(worker, job.id);
    expect(final.status).toBe("cancelled");
    expect((await worker.listJobs({ type: "notify" })).jobs).toEqual([]);
    bystanderGate.resolve();
    expect((await finished(worker, bystander.id)).status).toBe("completed");
    expect(bystanderTxError).toBeUndefined();
    expect(bystanderMarks).toBe(1);
    // The marks end with their transactions.
    const admin = adminSql();
    cleanups.push(() => admin.end({ timeout: 5 }));
    const marked = await admin`
      select count(*)::int as n from pg_locks where locktype = 'advisory' and (classid::int, objid::int) in
        ((hashtext(${`${schema}.attempt`}), hashtext(${bystander.id})), (hashtext(${`${schema}.attempt`}), hashtext(${job.id})))`;
    expect(marked[0]?.n).toBe(0);
  }, 30_000);

  it.each([1_500, 0])("with callTimeoutMs %i, a cancel of a job whose ctx.tx holds a row below it (after its own dependent) stops it", async (callTimeoutMs) => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const worker = queueOn(schema, callTimeoutMs);
    const started = deferred();
    let aborted = false;
    let below = "";
    worker.defineHandler("a", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        // "After B, also do C": holds B's row, a blocked dependent of this very job, which the cancel locks too.
        await worker.enqueue("c", {}, { dependsOn: [below], tx: ctx.tx as never });
        started.resolve();
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            resolve();
          }),
        );
        return "a";
      },
    });
    worker.defineHandler("b", { run: () => "b" });
    worker.defineHandler("c", { run: () => "c" });
    await worker.migrate();
    const [a, b] = await worker.enqueueMany([
      { key: "a", type: "a", payload: {} },
      { key: "b", type: "b", payload: {}, dependsOn: ["a"] },
    ]);
    below = b!.id;
    await worker.start();
    await started.promise;
    const answer = await queueOn(schema, callTimeoutMs).cancel(a!.id).then((record) => record.status, (error: unknown) => error as Error);
    expect(answer).toMatch(/^(running|cancelled)$/);
    expect(aborted).toBe(true);
    expect((await finished(worker, a!.id)).status).toBe("cancelled");
    expect((await finished(worker, b!.id)).status).toBe("cancelled");
    expect((await worker.listJobs({ type: "c" })).jobs).toEqual([]);
  }, 30_000);

  it("a cancel that asked a worker answers the job among those asked to stop, whatever the case of its id, among unknown and finished ones", async () => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const worker = queueOn(schema);
    const started = deferred();
    worker.defineHandler("pay", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        await worker.enqueue("done", {}, { dependsOn: [ctx.job.id], tx: ctx.tx as never });
        started.resolve();
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
        return "paid";
      },
    });
    worker.defineHandler("done", { run: () => "ok" });
    await worker.start();
    const earlier = await worker.enqueue("done", {});
    expect((await finished(worker, earlier.id)).status).toBe("completed");
    const job = await worker.enqueue("pay", {});
    await started.promise;
    const unknown = Array.from({ length: 500 }, () => randomUUID());
    const answer = await queueOn(schema).storage.cancelJobs([job.id.toUpperCase(), "nope", earlier.id, ...unknown], new Date());
    // Whether the worker's settle or the second try stored it first, the job is reported as asked.
    expect(answer.cancelRequested).toEqual([job.id]);
    expect(answer.cancelled).toEqual([]);
    expect(new Set(answer.notFound)).toEqual(new Set(["nope", ...unknown]));
    expect((await finished(worker, job.id)).status).toBe("cancelled");
    expect((await worker.getJob(earlier.id))?.status).toBe("completed");
  }, 30_000);

  it("a cancel of a waiting job whose row another transaction holds longer than the lock wait fails alone, asking no worker to stop anything", async () => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const worker = queueOn(schema);
    const stops: string[] = [];
    worker.defineHandler("gate", {
      run: async (_payload, ctx) => {
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener("abort", () => {
            stops.push(ctx.job.id);
            resolve();
          }),
        );
        return "stopped";
      },
    });
    const storage = new PostgresStorage({ connectionString: databaseUrl, schema, max: 2 });
    cleanups.push(() => storage.close());
    await worker.start();
    const admin = adminSql();
    cleanups.push(() => admin.end({ timeout: 5 }));
    const waiting = await worker.enqueue("gate", {}, { runAt: new Date(Date.now() + 3_600_000) });
    const holder = await heldInsert(admin, storage, [newJob({ type: "gate", dependsOn: [waiting.id] })]);
    const answer = await worker.cancel(waiting.id).then((record) => record.status, (error: unknown) => error as Error);
    await holder.commit();
    expect(answer).toMatchObject({ code: "STORAGE" });
    expect((answer as Error).message).not.toContain("pool was replaced");
    expect((await worker.getJob(waiting.id))?.status).toBe("pending");
    expect(stops).toEqual([]);
  }, 30_000);

  it.each(["another process", "the worker's own queue"] as const)("an enqueue from %s whose idempotency key an open ctx.tx has just taken fails alone and ends no transaction", async (from) => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const worker = queueOn(schema);
    const inserted = deferred();
    const gate = deferred();
    let txError: string | undefined = "not run";
    worker.defineHandler("order", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        // Not committed until the handler returns: the key's index entry waits on this transaction.
        await worker.enqueue("ship", {}, { idempotencyKey: "ship:42", tx: ctx.tx as never });
        inserted.resolve();
        await gate.promise;
        txError = await stillUsable(ctx.tx);
        return "ordered";
      },
    });
    worker.defineHandler("ship", { run: () => "shipped" });
    await worker.start();
    const producer = from === "another process" ? queueOn(schema) : worker;
    const order = await worker.enqueue("order", {});
    await inserted.promise;
    const answer = await producer.enqueue("ship", {}, { idempotencyKey: "ship:42" }).then((record) => record.status, (error: unknown) => error as Error & { code?: string });
    gate.resolve();
    const final = await finished(worker, order.id);
    // Refused after the store's lock wait (or as a duplicate), never by the deadline that replaces
    // the pool: the handler's transaction, and what it enqueued, commit.
    expect(answer).toMatchObject({ code: expect.stringMatching(/^(STORAGE|DUPLICATE_JOB)$/) });
    expect((answer as Error).message).not.toContain("pool was replaced");
    expect(txError).toBeUndefined();
    expect(final.status).toBe("completed");
    const shipped = await worker.listJobs({ type: "ship" });
    expect(shipped.jobs).toHaveLength(1);
  }, 30_000);

  it("a schedule put or removed while another transaction holds its row fails alone and ends no transaction", async () => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const queue = queueOn(schema);
    const inside = deferred();
    const gate = deferred();
    let txError: string | undefined = "not run";
    queue.defineHandler("ledger", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        await (ctx.tx as (s: TemplateStringsArray) => Promise<unknown>)`select 1`;
        inside.resolve();
        await gate.promise;
        txError = await stillUsable(ctx.tx);
        return "posted";
      },
    });
    await queue.start();
    await queue.schedule("nightly", { cron: "0 3 * * *", type: "ledger" });
    const job = await queue.enqueue("ledger", {});
    await inside.promise;
    const admin = adminSql();
    cleanups.push(() => admin.end({ timeout: 5 }));
    // As a fire of the schedule holds it, for longer than the call deadline.
    const holder = await heldTransaction(admin, (tx) => tx`select name from ${tx(schema)}.schedules where name = 'nightly' for update`);
    const put = await queue.schedule("nightly", { cron: "0 4 * * *", type: "ledger" }).then(() => "stored", (error: unknown) => error as Error);
    const removed = await queue.unschedule("nightly").then(() => "removed", (error: unknown) => error as Error);
    await holder.commit();
    gate.resolve();
    for (const answer of [put, removed]) {
      expect(answer).toMatchObject({ code: "STORAGE" });
      expect((answer as Error).message).not.toContain("pool was replaced");
    }
    expect((await finished(queue, job.id)).status).toBe("completed");
    expect(txError).toBeUndefined();
    // Nothing of either call was stored: the schedule is as it was.
    expect((await queue.listSchedules()).map((schedule) => schedule.cron)).toEqual(["0 3 * * *"]);
  }, 30_000);

  it("a commit of ctx.tx whose settle waits for a held dependent longer than the call deadline waits it out, once, and ends no other transaction", async () => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const queue = queueOn(schema);
    const othersInside = deferred();
    const othersGate = deferred();
    let othersTxError: string | undefined = "not run";
    let runs = 0;
    queue.defineHandler("charge", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        runs++;
        const tx = ctx.tx as postgres.Sql;
        await tx`insert into ${tx(schema)}.jobs_ledger (n) values (1)`;
        return "charged";
      },
    });
    queue.defineHandler("receipt", { run: () => "sent" });
    queue.defineHandler("other", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        await (ctx.tx as (s: TemplateStringsArray) => Promise<unknown>)`select 1`;
        othersInside.resolve();
        await othersGate.promise;
        othersTxError = await stillUsable(ctx.tx);
        return "done";
      },
    });
    // An application's transaction enqueuing a job after the receipt holds the receipt's row, which
    // the charge's settle must lock to unblock it.
    const { charge, receipt, admin, holder } = await chargeWithHeldReceipt(cleanups, queue, schema);
    await queue.start();
    const other = await queue.enqueue("other", {});
    await othersInside.promise;
    await blockedBy(admin, [holder.pid]);
    // Three call deadlines.
    await new Promise((resolve) => setTimeout(resolve, 3 * CALL_TIMEOUT_MS));
    await holder.commit();
    othersGate.resolve();
    const otherFinal = await finished(queue, other.id);
    expect({ status: otherFinal.status, error: otherFinal.error?.message }).toEqual({ status: "completed", error: undefined });
    expect(othersTxError).toBeUndefined();
    const charged = await finished(queue, charge!.id);
    // The commit waited in pieces, each answered within the deadline: its handler ran once, its write
    // committed with the completion, and the dependent it unblocked ran.
    expect({ status: charged.status, error: charged.error?.message, runs }).toEqual({ status: "completed", error: undefined, runs: 1 });
    const [ledger] = await admin<{ n: number }[]>`select count(*)::int as n from ${admin(schema)}.jobs_ledger`;
    expect(ledger?.n).toBe(1);
    expect((await finished(queue, receipt!.id)).status).toBe("completed");
  }, 40_000);

  it("a commit of ctx.tx waiting in pieces keeps its job's row locked, so no rescue of its lease takes the job meanwhile", async () => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const queue = queueOn(schema);
    const storage = queue.storage as PostgresStorage;
    let runs = 0;
    queue.defineHandler("charge", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        runs++;
        await (ctx.tx as (s: TemplateStringsArray) => Promise<unknown>)`select 1`;
        return "charged";
      },
    });
    queue.defineHandler("receipt", { run: () => "sent" });
    await queue.migrate();
    // The receipt first: its id is the lower, so a settle locking in id order waits for it before
    // it has locked the charge's own row.
    const [receipt, charge] = await queue.enqueueMany([
      { key: "receipt", type: "receipt", payload: {}, dependsOn: ["charge"] },
      { key: "charge", type: "charge", payload: {} },
    ]);
    expect(receipt!.id < charge!.id).toBe(true);
    const admin = adminSql();
    cleanups.push(() => admin.end({ timeout: 5 }));
    const holder = await heldInsert(admin, storage, [newJob({ type: "audit", dependsOn: [receipt!.id] })]);
    await queue.start();
    await blockedBy(admin, [holder.pid]);
    // What a rescue does first: lock the job's row unless another transaction holds it.
    const takeable = await admin`select id from ${admin(schema)}.jobs where id = ${charge!.id} for no key update skip locked`;
    await holder.commit();
    expect(takeable).toHaveLength(0);
    const charged = await finished(queue, charge!.id);
    expect({ status: charged.status, runs }).toEqual({ status: "completed", runs: 1 });
  }, 30_000);
});
