import { afterEach, beforeEach, expect, it } from "vitest";
import { z } from "zod";
import { DuplicateJobError, PermanentError, ValidationError } from "../../src/errors.js";
import { Queue } from "../../src/queue.js";
import { attemptSql, PostgresStorage } from "../../src/storage/postgres/index.js";
import type { JobId } from "../../src/types.js";
import { deferred } from "../queue/support.js";
import { describePostgres, eventually } from "../support/postgres.js";
import { stepDiamond } from "./fixtures.js";
import { PostgresQueues } from "./support/queues.js";

let pg: PostgresQueues;
beforeEach(() => {
  pg = new PostgresQueues();
});
afterEach(async () => {
  await pg.cleanup();
});

const WAIT = { timeoutMs: 20_000 } as const;

describePostgres("Queue on PostgresStorage", () => {
  it("runs a graph in dependency order and hands each job its parents' results", async () => {
    const worker = await pg.worker({ concurrency: 5 });
    const seen: Record<string, unknown> = {};
    worker.defineHandler("step", {
      run: (payload, ctx) => {
        const name = (payload as { name: string }).name;
        seen[name] = ctx.dependencies;
        return { from: name };
      },
    });
    const [fetch, left, right, post] = await worker.enqueueMany(stepDiamond());
    const done = await worker.waitFor(post!.id, WAIT);
    expect(done.status).toBe("completed");
    expect(seen.post).toEqual({ [left!.id]: { from: "left" }, [right!.id]: { from: "right" } });
    expect(seen.left).toEqual({ [fetch!.id]: { from: "fetch" } });
    const jobs = new Map((await worker.listJobs()).jobs.map((j) => [j.id, j]));
    for (const job of jobs.values()) {
      for (const dependency of job.dependsOn) {
        expect(job.startedAt!.getTime()).toBeGreaterThanOrEqual(jobs.get(dependency)!.finishedAt!.getTime());
      }
    }
  });

  it("reports a completed job as stored, whatever its handler did to the payload and the job it was given", async () => {
    const worker = await pg.worker();
    worker.defineHandler("mutate", {
      run: (payload, ctx) => {
        (payload as { items: number[] }).items.push(2);
        (ctx.job.backoff as { baseMs: number }).baseMs = 1;
        (ctx.job.dependsOn as string[]).push("not-a-dependency");
        return { ok: true };
      },
    });
    const reported = new Promise<unknown>((resolve) => worker.on("job:completed", ({ job }) => resolve(job)));
    const job = await worker.enqueue("mutate", { items: [1] });
    const completed = await reported;
    const stored = await worker.getJob(job.id);
    expect(stored).toMatchObject({ status: "completed", payload: { items: [1] }, dependsOn: [] });
    expect(completed).toEqual(stored);
  });

  it("cancels every dependent when a dependency fails", async () => {
    const worker = await pg.worker();
    worker.defineHandler("fail", { run: () => { throw new PermanentError("no"); } });
    worker.defineHandler("never", { run: () => "ran" });
    const [root, child, grandchild] = await worker.enqueueMany([
      { key: "root", type: "fail" },
      { key: "child", type: "never", dependsOn: ["root"] },
      { key: "grandchild", type: "never", dependsOn: ["child"] },
    ]);
    const cancelled = await worker.waitFor(grandchild!.id, WAIT);
    expect(cancelled).toMatchObject({ status: "cancelled", error: { code: "DEPENDENCY_FAILED" }, attempt: 0 });
    expect((await worker.getJob(child!.id))?.status).toBe("cancelled");
    expect((await worker.getJob(root!.id))).toMatchObject({ status: "failed", attempt: 1, error: { name: "PermanentError" } });
  });

  it("retries with backoff, then completes", async () => {
    const worker = await pg.worker();
    const retries: number[] = [];
    worker.on("job:retrying", ({ attempt }) => retries.push(attempt));
    const flaky = worker.defineHandler("flaky", {
      retry: { maxAttempts: 4, backoff: { type: "exponential", baseMs: 20, maxMs: 100, jitter: false } },
      run: (_payload, ctx) => {
        if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} fails`);
        return { attempt: ctx.attempt };
      },
    });
    const job = await worker.enqueue(flaky, {});
    const done = await worker.waitFor(job.id, WAIT);
    expect(done).toMatchObject({ status: "completed", attempt: 3, result: { attempt: 3 } });
    expect(retries).toEqual([1, 2]);
  });

  it("fails at once on PermanentError, whatever attempts remain", async () => {
    const worker = await pg.worker();
    const doomed = worker.defineHandler("doomed", { retry: { maxAttempts: 5 }, run: () => { throw new PermanentError("bad input", { code: "BAD" }); } });
    const job = await worker.enqueue(doomed, {});
    expect(await worker.waitFor(job.id, WAIT)).toMatchObject({ status: "failed", attempt: 1, error: { name: "PermanentError", code: "BAD" } });
  });

  it("times an attempt out with JOB_TIMEOUT and aborts its signal", async () => {
    const worker = await pg.worker();
    let aborted: unknown;
    const slow = worker.defineHandler("slow", {
      timeoutMs: 150,
      retry: { maxAttempts: 1 },
      run: (_payload, ctx) =>
        new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve((aborted = ctx.signal.reason)))),
    });
    const job = await worker.enqueue(slow, {});
    expect(await worker.waitFor(job.id, WAIT)).toMatchObject({ status: "failed", attempt: 1, error: { code: "JOB_TIMEOUT" } });
    expect(aborted).toMatchObject({ code: "JOB_TIMEOUT" });
  });

  it("times out an attempt whose ctx.tx holds the job's own row: rolled back, failed at once, not after a lease", async () => {
    // A lease far longer than the wait below: a settle left waiting on the attempt's own transaction
    // would be freed only by its call deadline, a lease later.
    const worker = await pg.worker({ leaseMs: 120_000 });
    const release = deferred();
    let child: JobId | undefined;
    let afterwards: unknown;
    const chained = worker.defineHandler("chained", {
      timeoutMs: 200,
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        // A follow-up that depends on this job, in the attempt's transaction: it share-locks this job's row.
        const sql = attemptSql(ctx);
        child = (await worker.enqueue("follow-up", {}, { dependsOn: [ctx.job.id], tx: sql })).id;
        // The handler ignores its signal and goes on until the test lets it.
        await release.promise;
        afterwards = await sql`select 1`.catch((error: unknown) => error);
      },
    });
    const job = await worker.enqueue(chained, {});
    expect(await worker.waitFor(job.id, { timeoutMs: 20_000 })).toMatchObject({ status: "failed", error: { code: "JOB_TIMEOUT" } });
    release.resolve();
    await eventually(async () => (afterwards === undefined ? undefined : true), "the handler's statement after the timeout");
    expect(afterwards).toMatchObject({ code: "ATTEMPT_FINISHED" });
    expect(child).toBeDefined();
    expect(await worker.getJob(child!)).toBeUndefined();
  });

  it("refuses a ctx.tx statement first sent after the attempt timed out, and fails the job at once", async () => {
    const worker = await pg.worker({ leaseMs: 120_000 });
    const timedOut = deferred();
    let refused: unknown;
    const late = worker.defineHandler("late", {
      timeoutMs: 200,
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        // Read early, used only after the timeout: it must not open a transaction the settle waits for.
        const sql = attemptSql(ctx);
        await timedOut.promise;
        refused = await worker.enqueue("follow-up", {}, { dependsOn: [ctx.job.id], tx: sql }).catch((error: unknown) => error);
      },
    });
    const job = await worker.enqueue(late, {});
    expect(await worker.waitFor(job.id, { timeoutMs: 20_000 })).toMatchObject({ status: "failed", error: { code: "JOB_TIMEOUT" } });
    timedOut.resolve();
    await eventually(async () => (refused === undefined ? undefined : true), "the handler's late statement");
    expect(refused).toMatchObject({ code: "ATTEMPT_FINISHED" });
  });

  it("stores and announces a timeout while the attempt's ctx.tx statement still runs, without waiting for it", async () => {
    const worker = await pg.worker({ leaseMs: 120_000 });
    // The handler's statement waits for an advisory lock the test holds until the job has failed.
    const holder = await pg.sql.reserve();
    await holder`select pg_advisory_lock(4242)`;
    try {
      const stuck = worker.defineHandler("stuck", {
        timeoutMs: 200,
        retry: { maxAttempts: 1 },
        run: async (_payload, ctx) => {
          await attemptSql(ctx)`select pg_advisory_xact_lock(4242)`.catch(() => undefined);
        },
      });
      const failedEvent = new Promise<JobId>((resolve) => worker.on("job:failed", ({ job }) => resolve(job.id)));
      const job = await worker.enqueue(stuck, {});
      expect(await worker.waitFor(job.id, { timeoutMs: 20_000 })).toMatchObject({ status: "failed", error: { code: "JOB_TIMEOUT" } });
      // Its event too, while the statement still runs.
      expect(await failedEvent).toBe(job.id);
    } finally {
      await holder`select pg_advisory_unlock(4242)`;
      holder.release();
    }
  });

  it("times out an attempt whose ctx.tx holds the job's own row while its statement still runs: the statement is cancelled, the job failed at once", async () => {
    // Call deadline and lease both far longer than the wait below: only cancelling the statement
    // frees the row the settle waits for in time.
    const worker = pg.queue({ leaseMs: 120_000 }, { callTimeoutMs: 120_000 });
    await worker.start();
    const holder = await pg.sql.reserve();
    await holder`select pg_advisory_lock(4243)`;
    let child: JobId | undefined;
    let statement: unknown;
    try {
      const stuck = worker.defineHandler("stuck-holding", {
        timeoutMs: 200,
        retry: { maxAttempts: 1 },
        run: async (_payload, ctx) => {
          const sql = attemptSql(ctx);
          // Share-locks this job's row in the attempt's transaction, then waits for the test's lock.
          child = (await worker.enqueue("follow-up", {}, { dependsOn: [ctx.job.id], tx: sql })).id;
          statement = await sql`select pg_advisory_xact_lock(4243)`.catch((error: unknown) => error);
        },
      });
      const job = await worker.enqueue(stuck, {});
      expect(await worker.waitFor(job.id, { timeoutMs: 15_000 })).toMatchObject({ status: "failed", error: { code: "JOB_TIMEOUT" } });
      await eventually(async () => (statement === undefined ? undefined : true), "the handler's statement to end");
      expect(statement).toMatchObject({ code: "57014" });
      expect(child).toBeDefined();
      expect(await worker.getJob(child!)).toBeUndefined();
      // The store's pool was kept: the job's failure did not wait for a call deadline.
      expect((await worker.getJob(job.id))?.status).toBe("failed");
    } finally {
      await holder`select pg_advisory_unlock(4243)`;
      holder.release();
    }
  });

  it("fails an attempt whose ctx.tx commit is refused at once, with the commit's error, not a lease later", async () => {
    await pg.sql`create schema if not exists ${pg.sql(pg.schema)}`;
    await pg.sql`create table ${pg.sql(pg.schema)}.parents (id int primary key)`;
    await pg.sql`create table ${pg.sql(pg.schema)}.children (parent int references ${pg.sql(pg.schema)}.parents (id) deferrable initially deferred)`;
    // A lease far longer than the wait below: only a settle at once fails the job in time.
    const worker = await pg.worker({ leaseMs: 120_000 });
    const writer = worker.defineHandler("writer", {
      retry: { maxAttempts: 1 },
      run: async (_payload, ctx) => {
        const sql = attemptSql(ctx);
        // Accepted now, refused at COMMIT: the deferred foreign key has no parent row.
        await sql`insert into ${sql(pg.schema)}.children (parent) values (1)`;
        return "written";
      },
    });
    const job = await worker.enqueue(writer, {});
    const failed = await worker.waitFor(job.id, { timeoutMs: 15_000 });
    expect(failed).toMatchObject({ status: "failed", attempt: 1 });
    expect(failed.error?.code).not.toBe("LEASE_EXPIRED");
    expect(failed.error).toMatchObject({ code: "STORAGE", message: "the attempt transaction failed to commit (23503)" });
    expect(await pg.sql`select * from ${pg.sql(pg.schema)}.children`).toEqual([]);
  });

  it("enforces idempotency keys and payload deduplication", async () => {
    const producer = await pg.producer();
    const first = await producer.enqueue("report", { day: 1 }, { idempotencyKey: "day-1" });
    const duplicate = producer.enqueue("report", { day: 1 }, { idempotencyKey: "day-1" });
    await expect(duplicate).rejects.toBeInstanceOf(DuplicateJobError);
    await expect(duplicate).rejects.toMatchObject({ existingJobId: first.id, existingStatus: "pending" });
    const existing = await producer.enqueue("report", { day: 1 }, { idempotencyKey: "day-1", onDuplicate: "return-existing" });
    expect(existing.id).toBe(first.id);

    const deduped = producer.defineHandler("dedupe", { deduplicate: "payload", run: () => null });
    const a = await producer.enqueue(deduped, { n: 1 });
    await expect(producer.enqueue(deduped, { n: 1 })).rejects.toMatchObject({ code: "DUPLICATE_JOB", existingJobId: a.id });
    expect((await producer.enqueue(deduped, { n: 2 })).id).not.toBe(a.id);
    expect((await producer.listJobs()).jobs).toHaveLength(3);
  });

  it("cancels a running job: its signal aborts, in this process and from another one", async () => {
    const worker = await pg.worker({ leaseMs: 60_000 });
    const other = await pg.producer();
    const started = new Map<JobId, () => void>();
    const aborts: string[] = [];
    const waiting = worker.defineHandler("waiting", {
      run: (_payload, ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener("abort", () => {
            aborts.push((ctx.signal.reason as { code?: string }).code ?? "?");
            resolve(null);
          });
          started.get(ctx.job.id)?.();
        }),
    });
    for (const canceller of [worker, other]) {
      const running = deferred();
      const job = await worker.enqueue(waiting, {});
      started.set(job.id, () => running.resolve());
      await running.promise;
      await canceller.cancel(job.id);
      // Another process's cancel reaches the worker by NOTIFY (its heartbeat is 20 s away).
      expect(await canceller.waitFor(job.id, WAIT)).toMatchObject({ status: "cancelled", attempt: 1 });
    }
    expect(aborts).toEqual(["CANCELLED", "CANCELLED"]);
  });

  it("retries a failed job and keeps every attempt in its logs", async () => {
    const worker = await pg.worker();
    let allowed = false;
    const gated = worker.defineHandler("gated", {
      retry: { maxAttempts: 1 },
      run: (_payload, ctx) => {
        ctx.log("info", "trying", { attempt: ctx.attempt });
        if (!allowed) throw new Error("not yet");
        return "ok";
      },
    });
    const job = await worker.enqueue(gated, {});
    expect((await worker.waitFor(job.id, WAIT)).status).toBe("failed");
    allowed = true;
    await worker.retry(job.id);
    expect(await worker.waitFor(job.id, WAIT)).toMatchObject({ status: "completed", attempt: 1, result: "ok" });

    const logs = await worker.getJobLogs(job.id);
    expect(logs.map((l) => [l.kind, l.message, l.attempt])).toEqual([
      ["status", "pending", 0],
      ["status", "running", 1],
      ["log", "trying", 1],
      ["status", "failed", 1],
      ["status", "pending", 0],
      ["status", "running", 1],
      ["log", "trying", 1],
      ["status", "completed", 1],
    ]);
    expect(logs.map((l) => Number(l.seq))).toEqual([...logs.map((l) => Number(l.seq))].sort((a, b) => a - b));
  });

  it("lets a producer that runs nothing wait for a job another queue runs", async () => {
    const producer = await pg.producer();
    const worker = await pg.worker();
    worker.defineHandler("remote", { payload: z.object({ n: z.number() }), run: (payload) => payload.n * 2 });
    const job = await producer.enqueue("remote", { n: 21 });
    expect(producer.isRunning).toBe(false);
    expect(await producer.waitFor(job.id, WAIT)).toMatchObject({ status: "completed", result: 42 });
  });

  it("enqueues inside the caller's transaction: nothing on rollback, a run on commit", async () => {
    const producer = await pg.producer();
    const worker = await pg.worker();
    worker.defineHandler("tx.job", { run: () => "ran" });
    await expect(
      pg.sql.begin(async (tx) => {
        await producer.enqueue("tx.job", { n: 1 }, { idempotencyKey: "once", tx });
        throw new Error("the caller rolls back");
      }),
    ).rejects.toThrow("the caller rolls back");
    expect((await producer.listJobs()).jobs).toEqual([]);

    const job = await pg.sql.begin((tx) => producer.enqueue("tx.job", { n: 2 }, { idempotencyKey: "once", tx }));
    expect(await producer.waitFor(job.id, WAIT)).toMatchObject({ status: "completed", result: "ran" });
  });

  it("announces job:enqueued for an enqueue in the caller's transaction before it commits: after a rollback the job does not exist", async () => {
    const producer = await pg.producer();
    const announced: JobId[] = [];
    producer.on("job:enqueued", ({ job }) => announced.push(job.id));
    await expect(
      pg.sql.begin(async (tx) => {
        await producer.enqueue("tx.job", {}, { tx });
        throw new Error("the caller rolls back");
      }),
    ).rejects.toThrow("the caller rolls back");
    expect(announced).toHaveLength(1);
    expect(await producer.getJob(announced[0]!)).toBeUndefined();
  });

  it("refuses a runAt that PostgreSQL cannot hold as VALIDATION, and stores the first and last instants it accepts", async () => {
    const producer = await pg.producer();
    for (const runAt of [new Date(8.64e15), new Date("0000-06-01T00:00:00Z"), new Date("0001-01-01T00:00:00+23:59"), new Date(-8.64e15), new Date("0001-01-01T00:00:00Z"), new Date("9999-12-31T23:59:59Z")]) {
      await expect(producer.enqueue("dated", {}, { runAt })).rejects.toMatchObject({ code: "VALIDATION" });
    }
    expect((await producer.listJobs()).jobs).toEqual([]);
    for (const runAt of [new Date("1970-01-01T00:00:00Z"), new Date("9999-12-31T00:00:00Z")]) {
      const job = await producer.enqueue("dated", {}, { runAt });
      expect((await producer.getJob(job.id))?.runAt).toEqual(runAt);
    }
  });

  it("stores a payload nested 1,000 deep, the deepest accepted, and refuses deeper as VALIDATION", async () => {
    const producer = await pg.producer();
    const nested = (depth: number) => JSON.parse(`${"[".repeat(depth)}1${"]".repeat(depth)}`) as unknown;
    const job = await producer.enqueue("deep", nested(1_000));
    expect(JSON.stringify((await producer.getJob(job.id))?.payload)).toBe(JSON.stringify(nested(1_000)));
    for (const depth of [1_001, 2_500, 20_000]) {
      await expect(producer.enqueue("deep", nested(depth))).rejects.toMatchObject({ code: "VALIDATION" });
    }
  });

  it("leaves a PostgresStorage passed in open after shutdown: a second queue on it reads and writes until its owner closes it", async () => {
    const first = await pg.producer();
    const job = await first.enqueue("kept", { n: 1 });
    await first.shutdown();
    expect(await first.getJob(job.id)).toMatchObject({ status: "pending" });
    const second = new Queue({ storage: first.storage });
    expect(await second.getJob(job.id)).toMatchObject({ status: "pending", payload: { n: 1 } });
    expect((await second.enqueue("kept", { n: 2 })).status).toBe("pending");
    await second.shutdown();
    await first.storage.close();
    await expect(second.getJob(job.id)).rejects.toMatchObject({ code: "QUEUE_CLOSED" });
  });

  it("releases a job on shutdown without burning its attempt; another worker then runs it", async () => {
    const first = await pg.worker({ shutdownGraceMs: 50 });
    const running = deferred();
    const interrupted: number[] = [];
    first.on("job:interrupted", ({ attempt }) => interrupted.push(attempt));
    first.defineHandler("long", {
      run: (_payload, ctx) =>
        new Promise((resolve, reject) => {
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
          running.resolve();
        }),
    });
    const producer = await pg.producer();
    const job = await producer.enqueue("long", {});
    await running.promise;
    await first.shutdown();
    expect(interrupted).toEqual([1]);
    expect(await producer.getJob(job.id)).toMatchObject({ status: "pending", attempt: 0 });

    const second = await pg.worker();
    second.defineHandler("long", { run: (_payload, ctx) => ({ attempt: ctx.attempt }) });
    expect(await producer.waitFor(job.id, WAIT)).toMatchObject({ status: "completed", attempt: 1, result: { attempt: 1 } });
  });

  it("commits ctx.tx writes exactly once with the completion, and rolls them back on a throw", async () => {
    await pg.sql`create schema if not exists ${pg.sql(pg.schema)}`;
    await pg.sql`create table ${pg.sql(pg.schema)}.payments (job_id uuid not null, attempt int not null, note text not null)`;
    const worker = await pg.worker();
    const table = pg.sql(pg.schema);
    const pay = worker.defineHandler("pay", {
      payload: z.object({ failFirst: z.boolean(), permanent: z.boolean() }),
      retry: { maxAttempts: 2, backoff: { baseMs: 10, jitter: false } },
      run: async (payload, ctx) => {
        const sql = attemptSql(ctx);
        await sql`insert into ${table}.payments (job_id, attempt, note) values (${ctx.job.id}, ${ctx.attempt}, 'paid')`;
        if (payload.permanent) throw new PermanentError("declined");
        if (payload.failFirst && ctx.attempt === 1) throw new Error("transient");
        return "paid";
      },
    });
    const clean = await worker.enqueue(pay, { failFirst: false, permanent: false });
    const flaky = await worker.enqueue(pay, { failFirst: true, permanent: false });
    const declined = await worker.enqueue(pay, { failFirst: false, permanent: true });
    expect(await worker.waitFor(clean.id, WAIT)).toMatchObject({ status: "completed", attempt: 1 });
    expect(await worker.waitFor(flaky.id, WAIT)).toMatchObject({ status: "completed", attempt: 2 });
    expect(await worker.waitFor(declined.id, WAIT)).toMatchObject({ status: "failed", attempt: 1 });
    const rows = await pg.sql<{ job_id: string; attempt: number }[]>`select job_id::text as job_id, attempt from ${table}.payments order by job_id`;
    expect(rows.map((r) => [r.job_id, r.attempt]).sort()).toEqual([[clean.id, 1], [flaky.id, 2]].sort());
  });

  it("stamps an outcome committed through ctx.tx with the time of the commit, not the time ctx.tx was opened", async () => {
    const worker = await pg.worker();
    let opened: Date | undefined;
    const slow = worker.defineHandler("slow", {
      run: async (_payload, ctx) => {
        const sql = attemptSql(ctx);
        // now() inside the attempt's transaction: the time it began.
        opened = (await sql<{ opened: Date }[]>`select now() as opened`)[0]?.opened;
        await sql`select pg_sleep(0.3)`;
        return "done";
      },
    });
    const job = await worker.enqueue(slow, {});
    const done = await worker.waitFor(job.id, WAIT);
    expect(done).toMatchObject({ status: "completed", result: "done" });
    const since = (at: Date | undefined) => (at?.getTime() ?? 0) - (opened?.getTime() ?? Number.POSITIVE_INFINITY);
    expect(since(done.finishedAt)).toBeGreaterThanOrEqual(300);
    expect(since(done.updatedAt)).toBeGreaterThanOrEqual(300);
    expect(since(done.attempts[0]?.finishedAt)).toBeGreaterThanOrEqual(300);
  });

  it("says clearly when ctx.tx is asked of a job that does not run on PostgresStorage", () => {
    expect(() => attemptSql({ tx: undefined })).toThrow(ValidationError);
    expect(() => attemptSql({ tx: () => undefined })).toThrow(/PostgresStorage/);
  });

  it("with prefetch, holds claimed jobs leased in the worker, runs `concurrency` at a time, and releases the waiting ones unburnt on shutdown", async () => {
    const worker = await pg.worker({ concurrency: 2, prefetch: 3 });
    const gate = deferred();
    let running = 0;
    let peak = 0;
    worker.defineHandler("held", {
      run: async () => {
        peak = Math.max(peak, ++running);
        await gate.promise;
        running--;
      },
    });
    const ids = (await worker.enqueueMany(Array.from({ length: 8 }, (_, i) => ({ key: `j${i}`, type: "held" })))).map((job) => job.id);
    const byStatus = async () => {
      const jobs = await Promise.all(ids.map((id) => worker.getJob(id)));
      return jobs.reduce<Record<string, number>>((counts, job) => ({ ...counts, [job!.status]: (counts[job!.status] ?? 0) + 1 }), {});
    };
    await eventually(async () => ((await byStatus()).running === 5 && running === 2 ? true : undefined), "5 jobs leased, 2 handlers running");
    const closing = worker.shutdown();
    // The three waiting jobs go back at once, attempt not counted; the two running ones finish in the grace.
    await eventually(async () => ((await byStatus()).pending === 6 ? true : undefined), "the waiting jobs released");
    gate.resolve();
    await closing;
    const reader = await pg.producer();
    const jobs = await Promise.all(ids.map((id) => reader.getJob(id)));
    expect(jobs.filter((job) => job!.status === "completed")).toHaveLength(2);
    expect(jobs.filter((job) => job!.status === "pending").every((job) => job!.attempt === 0)).toBe(true);
    expect(peak).toBe(2);
  });

  it("stores a second settle batch while the first is still in flight, and every job completes once", async () => {
    const producer = await pg.producer();
    const ids = (await producer.enqueueMany(Array.from({ length: 400 }, (_, i) => ({ key: `j${i}`, type: "noop" })))).map((job) => job.id);
    const worker = pg.queue({ concurrency: 50, prefetch: 200 });
    const store = worker.storage as PostgresStorage;
    const settle = store.settle.bind(store);
    // The first settle waits until a second one has started (or 15 s have passed), then both go on.
    let inFlight = 0;
    let peak = 0;
    const second = deferred();
    const fallback = setTimeout(() => second.resolve(), 15_000);
    store.settle = async (settlements, now) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      try {
        if (peak === 1) await second.promise;
        else second.resolve();
        return await settle(settlements, now);
      } finally {
        inFlight -= 1;
      }
    };
    const completed = new Set<JobId>();
    let events = 0;
    worker.on("job:completed", ({ job }) => {
      events += 1;
      completed.add(job.id);
    });
    worker.defineHandler("noop", { run: () => undefined });
    await worker.start();
    await eventually(() => (completed.size === ids.length ? true : undefined), "every job completed", 30_000);
    clearTimeout(fallback);
    expect(peak).toBe(2);
    expect(events).toBe(ids.length);
    const jobs = await Promise.all(ids.map((id) => producer.getJob(id)));
    expect(jobs.every((job) => job?.status === "completed" && job.attempt === 1 && job.attempts.length === 1)).toBe(true);
  });
});
