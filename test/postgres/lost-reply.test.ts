import { afterEach, expect, it } from "vitest";
import type { JobContext } from "../../src/handler.js";
import { Queue } from "../../src/queue.js";
import { attemptSql, PostgresStorage } from "../../src/storage/postgres/index.js";
import type { Json, JobRecord } from "../../src/types.js";
import { deferred } from "../queue/support.js";
import { adminSql, databaseUrl, describePostgres, dropSchema, eventually, freshSchemaName } from "../support/postgres.js";
import { TcpProxy, targetOf } from "../support/tcp-proxy.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** COMMIT as postgres.js sends it: a simple query message ('Q', its length, the text and a NUL). */
const COMMIT = Buffer.concat([Buffer.from("Q"), Buffer.from([0, 0, 0, 11]), Buffer.from("commit\0")]);

/**
 * Runs one job of a handler doing `work` on a worker behind a proxy, and loses the answer to the
 * first COMMIT the worker sends once the handler runs (its outcome's): the server commits, then the
 * connection fails. Answers the job:completed event the worker announced (undefined if none within
 * 15 s), the worker's error events, and the job's id and schema.
 */
async function completeWithTheCommitAnswerLost(work: (ctx: JobContext, schema: string) => Promise<Json>) {
  const proxy = new TcpProxy(targetOf(databaseUrl));
  const url = await proxy.start(databaseUrl);
  cleanups.push(() => proxy.close());
  const schema = freshSchemaName();
  const admin = adminSql();
  cleanups.push(async () => {
    await admin.end({ timeout: 5 });
    await dropSchema(schema);
  });
  const queue = new Queue({
    storage: new PostgresStorage({ connectionString: url, schema, max: 2, listen: false }),
    concurrency: 1,
    // Nothing else of the worker commits while the outcome is stored: one claim, no polls.
    pollIntervalMs: 60_000,
    leaseMs: 120_000,
    logger: false,
  });
  cleanups.push(async () => {
    await queue.shutdown().catch(() => undefined);
    await queue.storage.close();
  });
  const started = deferred();
  const release = deferred();
  const job = queue.defineHandler("pay", {
    run: async (_payload, ctx) => {
      started.resolve();
      await release.promise;
      return work(ctx, schema);
    },
  });
  const completed = new Promise<JobRecord>((resolve) => queue.on("job:completed", ({ job: done }) => resolve(done)));
  const errors: unknown[] = [];
  queue.on("queue:error", ({ error }) => errors.push(error));
  await queue.migrate();
  await admin`create table ${admin(schema)}.payments (job_id uuid primary key)`;
  await queue.start();
  const { id } = await queue.enqueue(job, {});
  await started.promise;
  const replies = proxy.holdRepliesAfter(COMMIT);
  release.resolve();
  // The server committed the completion; the worker never heard. Then the connection fails.
  await eventually(async () => {
    const [row] = await admin<{ status: string }[]>`select status from ${admin(schema)}.jobs where id = ${id}`;
    return row?.status === "completed" && replies.held() ? true : undefined;
  }, "the completion to commit");
  replies.cut();
  const announced = await Promise.race([completed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000).unref())]);
  return { announced, errors, id, admin, schema };
}

describePostgres("A settle whose commit's answer was lost", () => {
  it("announces the attempt's outcome once the next try finds it stored: job:completed, with the stored job", async () => {
    const { announced, errors, id } = await completeWithTheCommitAnswerLost(async () => ({ paid: true }));
    expect(announced).toMatchObject({ id, status: "completed", result: { paid: true } });
    // The first try failed (the connection closed under it), and the retry found the lease gone.
    expect(errors.length).toBeGreaterThan(0);
  });

  it("announces a completion committed through ctx.tx whose answer was lost, not a failure", async () => {
    const { announced, id, admin, schema } = await completeWithTheCommitAnswerLost(async (ctx, at) => {
      const sql = attemptSql(ctx);
      await sql`insert into ${sql(at)}.payments (job_id) values (${ctx.job.id})`;
      return { paid: true };
    });
    expect(announced).toMatchObject({ id, status: "completed", result: { paid: true } });
    expect(await admin`select job_id from ${admin(schema)}.payments`).toEqual([{ job_id: id }]);
  });
});
