import postgres from "postgres";
import { afterEach, expect, it } from "vitest";
import { isVersion4 } from "../../src/storage/postgres/driver.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, describePostgres, dropSchema, eventually, freshSchemaName, newPostgresStorage } from "../support/postgres.js";
import { TcpProxy, targetOf } from "../support/tcp-proxy.js";
import { claimAny, newJob } from "./fixtures.js";
import { readAfterKillingTheOnlyConnection } from "./support/read-after-kill.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function setup(): Promise<{ storage: PostgresStorage; schema: string; sql: ReturnType<typeof adminSql> }> {
  const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
  const sql = adminSql();
  cleanups.push(async () => {
    await sql.end();
    await cleanup();
  });
  await sql`create table ${sql(schema)}.effects (job_id uuid primary key, note text)`;
  return { storage, schema, sql };
}

describePostgres("PostgresStorage transactions", () => {
  it("inserts inside a caller's transaction: nothing on rollback, the job on commit", async () => {
    const { storage, sql } = await setup();
    const dropped = newJob();
    await expect(
      sql.begin(async (tx) => {
        await storage.insertJobs({ jobs: [dropped], onDuplicate: "reject", now: new Date(), tx });
        throw new Error("the caller changes its mind");
      }),
    ).rejects.toThrow("the caller changes its mind");
    expect(await storage.getJob(dropped.id)).toBeUndefined();
    expect(await storage.listLogs(dropped.id)).toEqual([]);

    const kept = newJob();
    await sql.begin(async (tx) => {
      await storage.insertJobs({ jobs: [kept], onDuplicate: "reject", now: new Date(), tx });
      // Not visible outside the caller's transaction until it commits.
      expect(await storage.getJob(kept.id)).toBeUndefined();
    });
    expect((await storage.getJob(kept.id))?.status).toBe("pending");
  });

  it("keeps the caller's transaction usable after a rejected insert", async () => {
    const { storage, schema, sql } = await setup();
    const job = newJob({ dependsOn: ["00000000-0000-4000-8000-000000000000"] });
    await sql.begin(async (tx) => {
      await expect(storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date(), tx })).rejects.toMatchObject({ code: "UNKNOWN_DEPENDENCY" });
      await tx`insert into ${tx(schema)}.effects (job_id, note) values (${job.id}, 'still fine')`;
    });
    expect(await sql`select note from ${sql(schema)}.effects`).toEqual([{ note: "still fine" }]);
  });

  it("commits the handler's writes with the completion", async () => {
    const { storage, schema, sql } = await setup();
    const job = newJob();
    await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage);
    const attempt = storage.openAttemptTransaction(claimed[0]!.lease);
    expect(attempt.opened).toBe(false);
    await attempt.handle`insert into ${sql(schema)}.effects (job_id, note) values (${job.id}, 'paid')`;
    expect(attempt.opened).toBe(true);
    expect(await sql`select * from ${sql(schema)}.effects`).toEqual([]);
    const result = await attempt.commit({ type: "completed", result: { paid: true } }, new Date());
    expect(result).toMatchObject({ type: "settled", job: { status: "completed", result: { paid: true } } });
    expect(await sql`select note from ${sql(schema)}.effects`).toEqual([{ note: "paid" }]);
  });

  it("rolls the handler's writes back", async () => {
    const { storage, schema, sql } = await setup();
    const job = newJob();
    await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage);
    const attempt = storage.openAttemptTransaction(claimed[0]!.lease);
    await attempt.handle`insert into ${sql(schema)}.effects (job_id, note) values (${job.id}, 'paid')`;
    await attempt.rollback();
    expect(await sql`select * from ${sql(schema)}.effects`).toEqual([]);
    expect((await storage.getJob(job.id))?.status).toBe("running");
  });

  it("bounds a rollback that gets no answer by the call deadline: the pool is replaced, which ends the transaction", async () => {
    const proxy = new TcpProxy(targetOf(databaseUrl));
    const url = await proxy.start(databaseUrl);
    cleanups.push(() => proxy.close());
    const schema = freshSchemaName();
    const storage = new PostgresStorage({ connectionString: url, schema, max: 4, listen: false, callTimeoutMs: 500 });
    cleanups.push(async () => {
      await storage.close();
      await dropSchema(schema);
    });
    await storage.setup();
    const job = newJob();
    await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage);
    const attempt = storage.openAttemptTransaction(claimed[0]!.lease);
    const [{ port }] = (await attempt.handle`select inet_client_port() as port`) as unknown as [{ port: number }];
    // The transaction's connection goes half-open towards the process: the ROLLBACK is sent, never answered.
    proxy.holdRepliesOnPort(port);
    await attempt.rollback();
    // The replaced pool closed the transaction's connection; the server rolled the transaction back.
    await eventually(() => (proxy.hasPort(port) ? undefined : true), "the transaction's connection to close");
    expect((await storage.getJob(job.id))?.status).toBe("running");
  });

  it("rolls everything back when the lease was lost meanwhile", async () => {
    const { storage, schema, sql } = await setup();
    const job = newJob();
    await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage);
    const lease = claimed[0]!.lease;
    const attempt = storage.openAttemptTransaction(lease);
    await attempt.handle`insert into ${sql(schema)}.effects (job_id, note) values (${job.id}, 'paid')`;
    // Another party (a rescuer) settles the attempt first; its CAS must not wait on the handler's writes.
    await storage.settle([{ lease, outcome: { type: "failed", error: { name: "Error", message: "rescued" } } }], new Date());
    expect(await attempt.commit({ type: "completed", result: 1 }, new Date())).toEqual({ type: "lost", jobId: job.id });
    expect(await sql`select * from ${sql(schema)}.effects`).toEqual([]);
    expect((await storage.getJob(job.id))?.status).toBe("failed");
  });

  it("settles normally when the handler never used the transaction", async () => {
    const { storage } = await setup();
    const job = newJob();
    await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage);
    const attempt = storage.openAttemptTransaction(claimed[0]!.lease);
    expect(await attempt.commit({ type: "completed", result: null }, new Date())).toMatchObject({ type: "settled" });
    expect(attempt.opened).toBe(false);
  });

  it("fails a handler's statement sent after its connection closed, and rolls the attempt back", async () => {
    // The application's own pool, so the test can wait for postgres.js to report the close.
    let closes = 0;
    let closed: () => void = () => undefined;
    const pool = postgres(databaseUrl, { max: 2, onnotice: () => undefined, onclose: () => (closes++, closed()) });
    const schema = freshSchemaName();
    const storage = new PostgresStorage({ sql: pool, schema, listen: false });
    const sql = adminSql();
    cleanups.push(async () => {
      await storage.close();
      await pool.end({ timeout: 1 });
      await sql.end();
      await dropSchema(schema);
    });
    await storage.setup();
    await sql`create table ${sql(schema)}.effects (job_id uuid primary key, note text)`;
    const job = newJob();
    await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage);
    const attempt = storage.openAttemptTransaction(claimed[0]!.lease);
    const [backend] = await attempt.handle<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const pid = backend!.pid;
    await attempt.handle`insert into ${sql(schema)}.effects (job_id, note) values (${job.id}, 'paid')`;

    const sawClose = new Promise<void>((resolve) => (closed = resolve));
    const closesBefore = closes;
    await sql`select pg_terminate_backend(${pid})`;
    await sawClose;
    expect(closes).toBe(closesBefore + 1);
    // Other work keeps the pool reconnecting meanwhile; the handler's next statement must fail, not hang.
    const other = pool`select 1 as one`;
    await expect(attempt.handle`select 1`).rejects.toMatchObject({ code: "STORAGE" });
    expect(await other).toEqual([{ one: 1 }]);
    await expect(attempt.commit({ type: "completed", result: null }, new Date())).rejects.toMatchObject({ code: "STORAGE" });
    expect(await sql`select * from ${sql(schema)}.effects`).toEqual([]);
    // The job is still the attempt's to rescue, and the pool serves new attempts.
    expect((await storage.getJob(job.id))?.status).toBe("running");
    const [settled] = await storage.settle([{ lease: claimed[0]!.lease, outcome: { type: "completed", result: 2 } }], new Date());
    expect(settled).toMatchObject({ type: "settled", job: { status: "completed" } });
  });

  // On postgres.js 3.4 the store also stops the pool from loading the array types again (array-types-v3.test.ts);
  // postgres.js 4 loads them once per pool by itself, and only for a statement that needs them.
  it("reads again, arrays included, after the pool's only connection was killed", async () => {
    await readAfterKillingTheOnlyConnection((cleanup) => cleanups.push(cleanup), (pool) => expect(isVersion4(pool)).toBe(true));
  });
});
