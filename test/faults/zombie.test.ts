import { expect, it } from "vitest";
import { describePostgres } from "../support/postgres.js";
import { Children, FaultDb, useFaultDb, report, size, waitUntil } from "./harness.js";

const children = new Children();
let db: FaultDb;
useFaultDb(children, (created) => (db = created));

/** Jobs whose history does not end with their completion: something wrote after it (or it never came). */
async function writtenAfterCompletion(db: FaultDb): Promise<number> {
  const { sql, schema } = db;
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from ${sql(schema)}.jobs j
    where (j.attempts -> -1 ->> 'outcome') is distinct from 'completed'
      or exists (select 1 from jsonb_array_elements(j.transitions) t where (t->>'at')::timestamptz >= (j.attempts -> -1 ->> 'finishedAt')::timestamptz)`;
  return row?.n ?? -1;
}

describePostgres("scenario 2: a worker paused (SIGSTOP) past its lease, then resumed (SIGCONT)", () => {
  it("its late heartbeats and settles change nothing, and the attempts it lost are aborted", async () => {
    const leaseMs = size(2_000, 10_000);
    const perZombie = size(10, 25);
    // One zombie heartbeats normally and holds until its signal aborts; the other never heartbeats and
    // finishes its handlers right after it resumes, so its settles arrive late with stale leases.
    const aborting = await children.worker(db.schema, { HOLD: "abort", CONCURRENCY: perZombie, LEASE_MS: leaseMs, EVENTS: "started" });
    const finishing = await children.worker(db.schema, {
      HOLD: "ignore", HOLD_MS: leaseMs, HEARTBEAT_MS: 600_000, CONCURRENCY: perZombie, LEASE_MS: leaseMs, EVENTS: "inflight,started",
    });
    const ids = await db.enqueueLedgerJobs(2 * perZombie);
    await waitUntil(async () => ((await db.count("running")) === 2 * perZombie ? true : undefined), "both zombies to hold their jobs", 20_000, 20);
    // Claimed is not started: a zombie stopped between its claim and a handler's start would, on resume,
    // see that lease unconfirmed and let the job go without running it. Stop them once every handler runs.
    const started = (child: typeof aborting) => child.events.filter((e) => e.event === "started").length;
    await waitUntil(() => (started(aborting) === perZombie && started(finishing) === perZombie ? true : undefined), "both zombies to start every handler", 20_000, 20);
    aborting.signal("SIGSTOP");
    finishing.signal("SIGSTOP");
    const stoppedAt = Date.now();
    const held = await db.jobs(ids);
    expect(held.filter((job) => job.worker_id === aborting.workerId)).toHaveLength(perZombie);
    expect(held.filter((job) => job.worker_id === finishing.workerId)).toHaveLength(perZombie);

    const taker = await children.worker(db.schema, { CONCURRENCY: 2 * perZombie, LEASE_MS: leaseMs });
    const takeoverMs = await db.waitForStatus("completed", 2 * perZombie, leaseMs + 10_000);
    const before = await db.ledgerFacts(ids);
    expect(before).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0, attempts: { 2: 2 * perZombie } });

    aborting.signal("SIGCONT");
    finishing.signal("SIGCONT");
    // The heartbeating zombie learns it lost every lease and aborts each attempt.
    await waitUntil(() => (aborting.events.filter((e) => e.event === "aborted").length === perZombie ? true : undefined), "the zombie's attempts to abort", 10_000);
    expect(new Set(aborting.events.filter((e) => e.event === "aborted").map((e) => e.reason))).toEqual(new Set(["LEASE_LOST"]));
    // The other one's handlers return and try to write their effect: the ledger's key refuses it.
    await waitUntil(() => (finishing.events.filter((e) => e.event === "fenced").length === perZombie ? true : undefined), "the late effects to be refused", 10_000);
    // A graceful stop drains every settle still queued: after it, all late writes have been tried.
    aborting.signal("SIGTERM");
    finishing.signal("SIGTERM");
    expect((await aborting.exited).code).toBe(0);
    expect((await finishing.exited).code).toBe(0);

    const after = await db.ledgerFacts(ids);
    expect(after).toEqual(before);
    expect(await writtenAfterCompletion(db)).toBe(0);
    const jobs = await db.jobs(ids);
    expect(jobs.every((job) => job.status === "completed" && job.attempt === 2)).toBe(true);
    const { sql, schema } = db;
    const workers = await sql<{ worker: string }[]>`select distinct worker from ${sql(schema)}.ledger`;
    expect(workers.map((w) => w.worker)).toEqual([taker.workerId]);
    report("2 sigstop", {
      jobs: 2 * perZombie, faults: "2 SIGSTOP/SIGCONT", leaseMs, pausedMs: Date.now() - stoppedAt, takeoverMs,
      abortedOnResume: perZombie, lateEffectsRefused: perZombie, lost: after.lost, duplicated: after.duplicated,
    });
  }, 90_000);
});
