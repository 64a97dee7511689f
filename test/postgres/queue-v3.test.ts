import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres3 from "postgres3";
import { afterEach, beforeEach, expect, it } from "vitest";
import { PermanentError } from "../../src/errors.js";
import { attemptSql, PostgresStorage } from "../../src/storage/postgres/index.js";
import { databaseUrl, describePostgres, eventually } from "../support/postgres.js";
import { stepDiamond } from "./fixtures.js";
import { PostgresQueues } from "./support/queues.js";

// An application on postgres.js 3.4 hands its own pool to the store (`sql`) and its own transactions
// to `enqueue({ tx })`, while jobgraph's own pool is postgres.js 4.
let pg: PostgresQueues;
let app: postgres3.Sql;
let dir: string;
beforeEach(async () => {
  pg = new PostgresQueues();
  dir = await mkdtemp(join(tmpdir(), "jobgraph-v3-"));
  app = postgres3(databaseUrl, { max: 4, onnotice: () => undefined });
  await pg.sql`create schema if not exists ${pg.sql(pg.schema)}`;
  await pg.sql`create table ${pg.sql(pg.schema)}.effects (job_id uuid primary key, note text)`;
  await pg.sql`create table ${pg.sql(pg.schema)}.ledger (job_id uuid not null, helper text not null, data jsonb, tags text[])`;
});
afterEach(async () => {
  await pg.cleanup();
  await app.end({ timeout: 5 });
  await rm(dir, { recursive: true, force: true });
});

const WAIT = { timeoutMs: 20_000 } as const;

describePostgres("Queue on an application's postgres.js 3.4 pool", () => {
  it("runs a graph end to end: claims, settles, and ctx.tx commits with the job", async () => {
    const worker = pg.queue({ concurrency: 4 }, { sql: app });
    await worker.start();
    // The change feed LISTENs on a connection made from the application's pool's options.
    await eventually(() => ((worker.storage as PostgresStorage).listening ? true : undefined), "LISTEN on the change channel");
    worker.defineHandler("step", {
      run: async (payload, ctx) => {
        const tx = attemptSql(ctx);
        await tx`insert into ${tx(pg.schema)}.effects (job_id, note) values (${ctx.job.id}, ${(payload as { name: string }).name})`;
        return { from: (payload as { name: string }).name };
      },
    });
    const [, left, right, post] = await worker.enqueueMany(stepDiamond());
    const done = await worker.waitFor(post!.id, WAIT);
    expect(done.status).toBe("completed");
    expect((await worker.getJob(left!.id))?.result).toEqual({ from: "left" });
    expect((await worker.getJob(right!.id))?.status).toBe("completed");
    const notes = await pg.sql<{ note: string }[]>`select note from ${pg.sql(pg.schema)}.effects order by note`;
    expect(notes.map((row) => row.note)).toEqual(["fetch", "left", "post", "right"]);
  });

  it("enqueues inside the application's postgres.js 3.4 transaction: the job on commit, nothing on rollback", async () => {
    const producer = pg.queue({}, { sql: app });
    await producer.migrate();
    await expect(
      app.begin(async (tx) => {
        await producer.enqueue("tx.job", { n: 1 }, { tx });
        await tx`insert into ${tx(pg.schema)}.effects (job_id, note) values (gen_random_uuid(), 'dropped')`;
        throw new Error("the application changes its mind");
      }),
    ).rejects.toThrow("the application changes its mind");
    expect((await producer.listJobs()).jobs).toEqual([]);

    const job = await app.begin(async (tx) => {
      const enqueued = await producer.enqueue("tx.job", { n: 2 }, { tx });
      // Not visible outside the transaction until it commits.
      expect(await producer.getJob(enqueued.id)).toBeUndefined();
      return enqueued;
    });
    expect((await producer.getJob(job.id))?.status).toBe("pending");
    const notes = await pg.sql`select note from ${pg.sql(pg.schema)}.effects`;
    expect(notes).toHaveLength(0);
  });

  it("gives ctx.tx every postgres.js 3.4 helper inside the attempt, committed with the job or rolled back with it", async () => {
    const worker = pg.queue({}, { sql: app });
    await worker.start();
    const file = join(dir, "insert.sql");
    await writeFile(file, `insert into ${pg.schema}.ledger (job_id, helper) values ($1, 'file')`);
    const job = worker.defineHandler("write", {
      run: async (payload, ctx) => {
        const tx = attemptSql(ctx);
        const ledger = tx`${tx(pg.schema)}.ledger`;
        const id = ctx.job.id;
        await tx`insert into ${ledger} ${tx({ job_id: id, helper: "row", tags: ["a", "b"] }, "job_id", "helper", "tags")}`;
        await tx`insert into ${ledger} (job_id, helper, data) values (${id}, 'json', ${tx.json({ n: 1 })})`;
        // An array passed as it is, as postgres.js 4 (which removed sql.array) has it too.
        await tx`insert into ${ledger} (job_id, helper, tags) values (${id}, 'array', ${["x"]}::text[])`;
        await tx.unsafe(`insert into ${pg.schema}.ledger (job_id, helper) values ($1, 'unsafe')`, [id]);
        await tx.file(file, [id]);
        await tx.savepoint((sp) => sp`insert into ${ledger} (job_id, helper) values (${id}, 'savepoint')`);
        const [row] = await tx<{ n: number }[]>`select count(*)::int as n from ${ledger} where job_id = ${id}`;
        if ((payload as { fail: boolean }).fail) throw new PermanentError("declined");
        return { inside: row?.n };
      },
    });
    const declined = await worker.enqueue(job, { fail: true });
    expect(await worker.waitFor(declined.id, WAIT)).toMatchObject({ status: "failed", error: { name: "PermanentError" } });
    expect(await pg.sql`select * from ${pg.sql(pg.schema)}.ledger`).toEqual([]);
    const kept = await worker.enqueue(job, { fail: false });
    expect(await worker.waitFor(kept.id, WAIT)).toMatchObject({ status: "completed", result: { inside: 6 } });
    const rows = await pg.sql<{ helper: string; data: unknown; tags: string[] | null }[]>`
      select helper, data, tags from ${pg.sql(pg.schema)}.ledger where job_id = ${kept.id} order by helper`;
    expect(rows).toEqual([
      { helper: "array", data: null, tags: ["x"] },
      { helper: "file", data: null, tags: null },
      { helper: "json", data: { n: 1 }, tags: null },
      { helper: "row", data: null, tags: ["a", "b"] },
      { helper: "savepoint", data: null, tags: null },
      { helper: "unsafe", data: null, tags: null },
    ]);
  });
  it("cancels a ctx.tx statement still running when the attempt times out, so the job's own row is freed at once", async () => {
    const worker = pg.queue({ leaseMs: 120_000 }, { sql: app, callTimeoutMs: 120_000 });
    await worker.start();
    const holder = await pg.sql.reserve();
    await holder`select pg_advisory_lock(4244)`;
    let statement: unknown;
    try {
      const stuck = worker.defineHandler("stuck-holding", {
        timeoutMs: 200,
        retry: { maxAttempts: 1 },
        run: async (_payload, ctx) => {
          const tx = attemptSql(ctx);
          await worker.enqueue("follow-up", {}, { dependsOn: [ctx.job.id], tx });
          statement = await tx`select pg_advisory_xact_lock(4244)`.catch((error: unknown) => error);
        },
      });
      const job = await worker.enqueue(stuck, {});
      expect(await worker.waitFor(job.id, { timeoutMs: 15_000 })).toMatchObject({ status: "failed", error: { code: "JOB_TIMEOUT" } });
      await eventually(async () => (statement === undefined ? undefined : true), "the handler's statement to end");
      expect(statement).toMatchObject({ code: "57014" });
    } finally {
      await holder`select pg_advisory_unlock(4244)`;
      holder.release();
    }
  });
});
