import { afterEach, expect, it } from "vitest";
import { StorageError } from "../../src/errors.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { ClaimedJob, Settlement } from "../../src/storage/storage.js";
import type { JobId, JobStatus } from "../../src/types.js";
import { adminSql, databaseUrl, describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

function pick<T>(items: readonly T[], count: number, next: () => number): T[] {
  const chosen = new Set<T>();
  while (chosen.size < Math.min(count, items.length)) chosen.add(items[Math.floor(next() * items.length)] as T);
  return [...chosen];
}

function shuffle<T>(items: readonly T[], next: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

describePostgres("PostgresStorage under contention", () => {
  it("settles and cancels overlapping graphs from several stores at once without surfacing deadlocks", async () => {
    const next = random(20_240_601);
    const { storage: main, schema, cleanup } = await newPostgresStorage({ listen: false, max: 4 });
    cleanups.push(cleanup);
    const stores = Array.from({ length: 4 }, () => new PostgresStorage({ connectionString: databaseUrl, schema, max: 6, listen: false }));
    cleanups.push(() => Promise.all(stores.map((s) => s.close())).then(() => undefined));

    // Three layers whose edges overlap heavily: every settle and cancel touches rows others touch too.
    const roots = Array.from({ length: 60 }, () => newJob());
    const middles = Array.from({ length: 80 }, () => newJob({ dependsOn: pick(roots, 4, next).map((j) => j.id) }));
    const leaves = Array.from({ length: 80 }, () =>
      newJob({ dependsOn: [...pick(middles, 3, next), ...pick(roots, 2, next)].map((j) => j.id) }),
    );
    await main.insertJobs({ jobs: [...roots, ...middles, ...leaves], onDuplicate: "reject", now: new Date() });
    const claimed: readonly ClaimedJob[] = (await claimAny(main, 100)).claimed;
    expect(claimed).toHaveLength(roots.length);

    // Batches in random order, as several workers' batched settles would send them, plus cancels.
    const settlements: Settlement[] = shuffle(claimed, next).map(({ lease }) => ({
      lease,
      outcome: next() < 0.7 ? { type: "completed", result: null } : { type: "failed", error: { name: "Error", message: "boom" } },
    }));
    const batches: Settlement[][] = [];
    for (let i = 0; i < settlements.length; ) {
      const size = 1 + Math.floor(next() * 6);
      batches.push(settlements.slice(i, i + size));
      i += size;
    }
    const cancelled = pick(middles, 20, next).map((j) => j.id);
    const work: Promise<unknown>[] = [
      ...batches.map((batch, i) => (stores[i % stores.length] as PostgresStorage).settle(shuffle(batch, next), new Date())),
      ...cancelled.map((id, i) => (stores[(i + 1) % stores.length] as PostgresStorage).cancelJobs([id, ...pick(cancelled, 2, next)], new Date())),
    ];
    const outcomes = await Promise.allSettled(work);
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected").map((o) => o.reason as unknown);
    expect(failures.filter((e) => e instanceof StorageError)).toEqual([]);
    expect(failures).toEqual([]);

    // Every dependent ended where its dependencies put it: nothing left blocked behind finished work.
    const sql = adminSql();
    cleanups.push(() => sql.end());
    const rows = await sql<{ id: string; status: JobStatus; pending_dependencies: number }[]>`
      select id::text as id, status, pending_dependencies from ${sql(schema)}.jobs`;
    const status = new Map(rows.map((r) => [r.id, r.status]));
    const asked = new Set<JobId>(cancelled);
    for (const job of [...middles, ...leaves]) {
      const deps = job.dependsOn.map((id) => status.get(id));
      const mine = status.get(job.id);
      if (deps.some((s) => s === "failed" || s === "cancelled")) expect(mine, job.id).toBe("cancelled");
      else if (deps.every((s) => s === "completed")) expect(mine === "pending" || (mine === "cancelled" && asked.has(job.id)), job.id).toBe(true);
      else expect(mine === "blocked" || (mine === "cancelled" && asked.has(job.id)), job.id).toBe(true);
    }
  });

  it("runs a settle again when PostgreSQL picks it as a deadlock victim", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const sql = adminSql();
    cleanups.push(() => sql.end());
    // The dependency sorts first, so the settle locks it, then waits on its dependent.
    const [low, high] = [newJob().id, newJob().id].sort() as [string, string];
    const dependency = newJob({ id: low });
    const dependent = newJob({ id: high, dependsOn: [dependency.id] });
    await storage.insertJobs({ jobs: [dependency, dependent], onDuplicate: "reject", now: new Date() });
    const lease = (await claimAny(storage)).claimed[0]!.lease;

    const other = await sql.reserve();
    try {
      await other`begin`;
      // Only a waiting session runs the deadlock check, after its own deadlock_timeout: giving this
      // one a long timeout makes the settle's check fire first however loaded the machine is.
      await other`set local deadlock_timeout = '60s'`;
      await other`select 1 from ${other(schema)}.jobs where id = ${dependent.id}::uuid for update`;
      const settling = storage.settle([{ lease, outcome: { type: "completed", result: 1 } }], new Date());
      await eventually(async () => {
        const waiting = await sql`
          select 1 from pg_stat_activity where application_name = 'jobgraph' and wait_event_type = 'Lock' and query like ${`%${schema}%`}`;
        return waiting.length > 0 ? true : undefined;
      }, "the settle to wait on the dependent");
      // Now close the cycle. The settle has waited longer, so its deadlock check fires first and it is the victim.
      await other`select 1 from ${other(schema)}.jobs where id = ${dependency.id}::uuid for update`;
      await other`commit`;
      expect(await settling).toMatchObject([{ type: "settled", unblocked: [dependent.id] }]);
    } finally {
      await other`rollback`.catch(() => undefined);
      other.release();
    }
    expect((await storage.getJob(dependent.id))?.status).toBe("pending");
  });

  it("reports a connection lost in the middle of a claim or a settle as a StorageError", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const sql = adminSql();
    cleanups.push(() => sql.end());
    const job = newJob();
    await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage);
    const lease = claimed[0]!.lease;
    await storage.insertJobs({ jobs: [newJob()], onDuplicate: "reject", now: new Date() });

    /** Holds a lock the store's next statement waits on, kills that waiting backend, then lets go. */
    const killWhileWaiting = async (lock: string, operation: () => Promise<unknown>) => {
      const holder = await sql.reserve();
      try {
        await holder`begin`;
        await holder.unsafe(lock);
        const pending = operation();
        pending.catch(() => undefined);
        await eventually(async () => {
          const killed = await sql`
            select pg_terminate_backend(pid) from pg_stat_activity
            where application_name = 'jobgraph' and wait_event_type = 'Lock' and datname = current_database()
              and query not like '%pg_stat_activity%' and pid <> pg_backend_pid()
              and query like ${`%${schema}%`}`;
          return killed.length > 0 ? true : undefined;
        }, "the store's statement to wait on the lock");
        return await pending.then(
          () => undefined,
          (err: unknown) => err,
        );
      } finally {
        await holder`rollback`;
        holder.release();
      }
    };

    const settleError = await killWhileWaiting(`select 1 from ${schema}.jobs where id = '${job.id}' for update`, () =>
      storage.settle([{ lease, outcome: { type: "completed", result: 1 } }], new Date()),
    );
    expect(settleError).toBeInstanceOf(StorageError);
    expect(settleError).toMatchObject({ code: "STORAGE" });

    const claimError = await killWhileWaiting(`lock table ${schema}.jobs in access exclusive mode`, () => claimAny(storage));
    expect(claimError).toBeInstanceOf(StorageError);

    // The store recovers on fresh connections; the attempt was not settled and its lease still holds.
    expect((await storage.getJob(job.id))?.status).toBe("running");
    expect(await storage.settle([{ lease, outcome: { type: "completed", result: 1 } }], new Date())).toMatchObject([{ type: "settled" }]);
  });
});
