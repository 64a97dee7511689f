import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterEach, beforeEach, expect, it } from "vitest";
import { AttemptFinishedError, PermanentError } from "../../src/errors.js";
import { attemptSql } from "../../src/storage/postgres/index.js";
import { deferred } from "../queue/support.js";
import { databaseUrl, describePostgres, eventually } from "../support/postgres.js";
import { PostgresQueues } from "./support/queues.js";

let pg: PostgresQueues;
let pool: postgres.Sql;
let dir: string;
/** The application_name of this test's pool, so its sessions can be told from everyone else's. */
let appName: string;
beforeEach(async () => {
  pg = new PostgresQueues();
  appName = `jg_attempt_${pg.schema}`;
  pool = postgres(databaseUrl, { max: 4, onnotice: () => undefined, connection: { application_name: appName } });
  dir = await mkdtemp(join(tmpdir(), "jobgraph-attempt-sql-"));
  await pg.sql`create schema if not exists ${pg.sql(pg.schema)}`;
  await pg.sql`create table ${pg.sql(pg.schema)}.ledger (job_id uuid not null, helper text not null, data jsonb, tags text[])`;
});
afterEach(async () => {
  await pg.cleanup();
  await pool.end({ timeout: 5 });
  await rm(dir, { recursive: true, force: true });
});

const WAIT = { timeoutMs: 20_000 } as const;

/** A started worker whose store runs on this test's pool. */
async function worker() {
  const queue = pg.queue({}, { sql: pool });
  await queue.start();
  return queue;
}

/** Sessions of this test's pool that sit inside a transaction. */
async function idleInTransaction(): Promise<number> {
  const [row] = await pg.sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where application_name = ${appName} and state like 'idle in transaction%'`;
  return row!.n;
}

describePostgres("ctx.tx is the attempt's postgres.js TransactionSql", () => {
  it("runs every helper inside the attempt's transaction and commits them with the job", async () => {
    const queue = await worker();
    const file = join(dir, "insert.sql");
    await writeFile(file, `insert into ${pg.schema}.ledger (job_id, helper) values ($1, 'file')`);
    const seenOutside = deferred<number>();
    const job = queue.defineHandler("write", {
      run: async (_payload, ctx) => {
        const tx = attemptSql(ctx);
        const ledger = tx`${tx(pg.schema)}.ledger`;
        const id = ctx.job.id;
        await tx`insert into ${tx(pg.schema)}.ledger (job_id, helper) values (${id}, 'identifier')`;
        await tx`insert into ${ledger} ${tx({ job_id: id, helper: "row", tags: ["a", "b"] }, "job_id", "helper", "tags")}`;
        await tx`insert into ${ledger} (job_id, helper, data) values (${id}, 'json', ${tx.json({ n: 1 })})`;
        await tx`insert into ${ledger} (job_id, helper, tags) values (${id}, 'array', ${["x"]}::text[])`;
        await tx.unsafe(`insert into ${pg.schema}.ledger (job_id, helper) values ($1, 'unsafe')`, [id]);
        await tx.file(file, [id]);
        await tx.savepoint(async (sp) => {
          await sp`insert into ${ledger} (job_id, helper) values (${id}, 'savepoint')`;
        });
        // A savepoint that fails is rolled back alone; the transaction goes on.
        await tx
          .savepoint(async (sp) => {
            await sp`insert into ${ledger} (job_id, helper) values (${id}, 'rolled-back-savepoint')`;
            throw new Error("undo this savepoint");
          })
          .catch(() => undefined);
        const values = await tx`select count(*)::int from ${ledger} where job_id = ${id}`.values();
        const helpers: string[] = [];
        for await (const rows of tx`select helper from ${ledger} where job_id = ${id} order by helper`.cursor(2)) helpers.push(...rows.map((r) => r.helper as string));
        if (helpers.length !== 7) throw new Error(`the cursor saw ${helpers.join(",")}`);
        // Nothing is visible outside the attempt until the job completes.
        const [outside] = await pg.sql<{ n: number }[]>`select count(*)::int as n from ${pg.sql(pg.schema)}.ledger`;
        seenOutside.resolve(outside!.n);
        return { inside: values[0]?.[0] };
      },
    });
    const enqueued = await queue.enqueue(job, {});
    expect(await queue.waitFor(enqueued.id, WAIT)).toMatchObject({ status: "completed", result: { inside: 7 } });
    expect(await seenOutside.promise).toBe(0);
    const rows = await pg.sql<{ helper: string; data: unknown; tags: string[] | null }[]>`
      select helper, data, tags from ${pg.sql(pg.schema)}.ledger where job_id = ${enqueued.id} order by helper`;
    expect(rows).toEqual([
      { helper: "array", data: null, tags: ["x"] },
      { helper: "file", data: null, tags: null },
      { helper: "identifier", data: null, tags: null },
      { helper: "json", data: { n: 1 }, tags: null },
      { helper: "row", data: null, tags: ["a", "b"] },
      { helper: "savepoint", data: null, tags: null },
      { helper: "unsafe", data: null, tags: null },
    ]);
  });

  it("rolls every helper's writes back when the handler throws", async () => {
    const queue = await worker();
    const job = queue.defineHandler("declined", {
      run: async (_payload, ctx) => {
        const tx = attemptSql(ctx);
        const id = ctx.job.id;
        await tx`insert into ${tx(pg.schema)}.ledger ${tx({ job_id: id, helper: "row" })}`;
        await tx.unsafe(`insert into ${pg.schema}.ledger (job_id, helper) values ($1, 'unsafe')`, [id]);
        await tx.savepoint((sp) => sp`insert into ${sp(pg.schema)}.ledger (job_id, helper) values (${id}, 'savepoint')`);
        throw new PermanentError("declined");
      },
    });
    const enqueued = await queue.enqueue(job, {});
    expect(await queue.waitFor(enqueued.id, WAIT)).toMatchObject({ status: "failed", error: { name: "PermanentError" } });
    expect(await pg.sql`select * from ${pg.sql(pg.schema)}.ledger`).toEqual([]);
    expect(await idleInTransaction()).toBe(0);
  });

  it("rejects ctx.tx used after the handler returned, and leaves no session idle in a transaction", async () => {
    const queue = await worker();
    const table = pg.sql(pg.schema);
    const late = new Map<string, ReturnType<typeof deferred<unknown>>>([["unused", deferred()], ["used", deferred()], ["first read late", deferred()]]);
    const job = queue.defineHandler("leaky", {
      run: async (payload, ctx) => {
        const { mode } = payload as { mode: "unused" | "used" | "first read late" };
        // "first read late" reads ctx.tx for the first time only after the handler returned.
        const early = mode === "first read late" ? undefined : attemptSql(ctx);
        // Plain tagged templates only (an identifier made elsewhere), which ctx.tx always took.
        if (mode === "used") await early!`insert into ${table}.ledger (job_id, helper) values (${ctx.job.id}, 'in time')`;
        // Kept past the handler's return: a timer the handler did not wait for.
        setTimeout(() => {
          const tx = early ?? attemptSql(ctx);
          tx`insert into ${table}.ledger (job_id, helper) values (${ctx.job.id}, 'too late')`.then(
            (rows) => late.get(mode)!.resolve(rows),
            (error: unknown) => late.get(mode)!.resolve(error),
          );
        }, 50);
        return mode;
      },
    });
    const unused = await queue.enqueue(job, { mode: "unused" });
    const used = await queue.enqueue(job, { mode: "used" });
    const readLate = await queue.enqueue(job, { mode: "first read late" });
    expect(await queue.waitFor(unused.id, WAIT)).toMatchObject({ status: "completed" });
    expect(await queue.waitFor(used.id, WAIT)).toMatchObject({ status: "completed" });
    expect(await queue.waitFor(readLate.id, WAIT)).toMatchObject({ status: "completed" });
    for (const mode of ["unused", "used", "first read late"]) {
      const error = await late.get(mode)!.promise;
      expect(error).toBeInstanceOf(AttemptFinishedError);
      expect(error).toMatchObject({ code: "ATTEMPT_FINISHED" });
    }
    // Every session of the pool is back and idle, none holds a transaction open.
    await eventually(async () => ((await idleInTransaction()) === 0 ? true : undefined), "no session idle in transaction", 2_000);
    const rows = await pg.sql<{ helper: string }[]>`select helper from ${pg.sql(pg.schema)}.ledger order by helper`;
    expect(rows).toEqual([{ helper: "in time" }]);
    // The pool still serves the queue: a session held by the late transaction would be missing here.
    const after = await queue.enqueue(job, { mode: "unused" });
    late.set("unused", deferred());
    expect(await queue.waitFor(after.id, WAIT)).toMatchObject({ status: "completed" });
    expect(await late.get("unused")!.promise).toBeInstanceOf(AttemptFinishedError);
    expect(await idleInTransaction()).toBe(0);
  });
});
