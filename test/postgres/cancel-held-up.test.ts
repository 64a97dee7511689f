import type postgres from "postgres";
import { afterEach, expect, it } from "vitest";
import { Queue } from "../../src/queue.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, describePostgres, dropSchema, freshSchemaName } from "../support/postgres.js";
import { blockedBy, heldInsert } from "./support/held-transaction.js";
import { claimAny, newJob } from "./fixtures.js";
import { chargeWithHeldReceipt, finished, heldRowsQueue } from "./support/held-rows-queue.js";
import { deferred } from "../queue/support.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const queueOn = (schema: string, callTimeoutMs?: number): Queue => heldRowsQueue(cleanups, schema, callTimeoutMs);


// A cancel held up by a row lock asks the workers of the jobs whose own attempt transaction holds
// such a row to stop them (see held-rows.test.ts). It must ask no other worker, answer only what
// happened, and find those attempts quickly however busy the server's lock table is.

describePostgres("a cancel held up by a row lock: whom it asks", () => {
  it("a cancel held up by an application transaction fails, and stops no job whose ctx.tx holds other rows", async () => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const worker = queueOn(schema);
    const started = deferred();
    const gate = deferred();
    let aborted = false;
    worker.defineHandler("report", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        const tx = ctx.tx as postgres.Sql;
        // An ordinary write of the handler's own: its transaction gets an id. It holds no job row.
        await tx`insert into ${tx(schema)}.app_rows (n) values (1)`;
        ctx.signal.addEventListener("abort", () => { aborted = true; gate.resolve(); });
        started.resolve();
        await gate.promise;
        return "reported";
      },
    });
    worker.defineHandler("after", { run: () => "ok" });
    await worker.migrate();
    const setup = adminSql();
    await setup`create table ${setup(schema)}.app_rows (n int)`;
    await setup.end({ timeout: 5 });
    const storage = new PostgresStorage({ connectionString: databaseUrl, schema, max: 2 });
    cleanups.push(() => storage.close());
    await worker.start();
    const job = await worker.enqueue("report", {});
    await started.promise;
    const admin = adminSql();
    cleanups.push(() => admin.end({ timeout: 5 }));
    const holder = await heldInsert(admin, storage, [newJob({ type: "after", dependsOn: [job.id] })]);
    const answer = await queueOn(schema).cancel(job.id).then((record) => record.status, (error: unknown) => error as Error);
    await holder.commit();
    gate.resolve();
    const final = await finished(worker, job.id);
    // Told the cancel failed (by the lock wait: the pool stays), the caller finds the job not stopped.
    expect(answer).toMatchObject({ code: "STORAGE" });
    expect((answer as Error).message).not.toContain("pool was replaced");
    expect({ aborted, status: final.status }).toEqual({ aborted: false, status: "completed" });
  }, 30_000);

  it("a cancel whose asked job completes (its commit was under way) does not answer it as asked to stop", async () => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const queue = queueOn(schema);
    let aborted = false;
    queue.defineHandler("charge", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        ctx.signal.addEventListener("abort", () => (aborted = true));
        const tx = ctx.tx as postgres.Sql;
        await tx`insert into ${tx(schema)}.jobs_ledger (n) values (1)`;
        return "charged";
      },
    });
    queue.defineHandler("receipt", { run: () => "sent" });
    const { charge, admin, holder } = await chargeWithHeldReceipt(cleanups, queue, schema);
    await queue.start();
    // The charge's commit (in its ctx.tx) holds the charge's row and waits for the receipt's.
    await blockedBy(admin, [holder.pid]);
    const canceller = new PostgresStorage({ connectionString: databaseUrl, schema, max: 2, callTimeoutMs: 6_000 });
    cleanups.push(() => canceller.close());
    const asked = deferred();
    canceller.subscribe({
      onChange: (changes) => {
        if (changes.some((change) => change.id === charge!.id && change.cancelRequested === true)) asked.resolve();
      },
    });
    const cancelling = canceller.cancelJobs([charge!.id], new Date());
    // Once the first try gave up and asked the worker (whose handler had returned), the holder
    // ends: the charge's commit completes it, and the second try finds it completed.
    await asked.promise;
    await holder.commit();
    const answer = await cancelling;
    const final = await finished(queue, charge!.id);
    expect(final.status).toBe("completed");
    expect(aborted).toBe(false);
    expect(answer).toEqual({ cancelled: [], cancelRequested: [], notFound: [] });
  }, 30_000);

  it("a cancel of 30 running jobs, one held by an application transaction, fails by its lock wait, not by the call deadline, with 1,000 advisory locks held elsewhere", async () => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const storage = new PostgresStorage({ connectionString: databaseUrl, schema, max: 4, listen: false, callTimeoutMs: 1_500 });
    cleanups.push(() => storage.close());
    await storage.setup();
    const jobs = Array.from({ length: 30 }, () => newJob());
    await storage.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
    expect((await claimAny(storage, 30)).claimed).toHaveLength(30);
    const admin = adminSql();
    cleanups.push(() => admin.end({ timeout: 5 }));
    const other = adminSql();
    cleanups.push(() => other.end({ timeout: 5 }));
    // Another session's locks (as many sessions' relation locks would be).
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    let held!: () => void;
    const isHeld = new Promise<void>((res) => (held = res));
    const holding = other.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock_shared(1, g) from generate_series(1, 1000) g`;
      held();
      await gate;
    });
    await isHeld;
    const holder = await heldInsert(admin, storage, [newJob({ dependsOn: [jobs[0]!.id] })]);
    const answer = await storage.cancelJobs(jobs.map((j) => j.id), new Date()).then(() => "answered", (e: Error) => e);
    await holder.commit();
    release();
    await holding;
    expect(answer).toMatchObject({ code: "STORAGE" });
    expect((answer as Error).message).not.toContain("pool was replaced");
  }, 60_000);
});
