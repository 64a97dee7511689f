import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import { databaseUrl, describePostgres } from "../support/postgres.js";
import { TcpProxy, targetOf } from "../support/tcp-proxy.js";
import { Children, FaultDb, report, size, waitUntil } from "./harness.js";

const children = new Children();
let db: FaultDb;
let proxy: TcpProxy;

beforeEach(async () => {
  db = await FaultDb.create();
  proxy = new TcpProxy(targetOf(databaseUrl));
});
afterEach(async () => {
  await children.stopAll();
  await proxy.close();
  await db.dispose();
});
afterAll(() => children.stopAll());

describePostgres("scenario 7: a half-open connection (the network drops bytes, nothing closes)", () => {
  it("the cut-off worker notices within a bounded time and recovers; nothing is lost or run twice", async () => {
    const leaseMs = size(2_000, 10_000);
    const wave = size(300, 3_000);
    const proxied = await proxy.start(databaseUrl);
    // The sessions the cut-off worker leaves on the server hold row locks until the server ends them.
    const config = { CONCURRENCY: 10, LEASE_MS: leaseMs, LISTENER_CHECK_MS: 500, LISTENER_TIMEOUT_MS: 1_000, IDLE_TX_MS: leaseMs, EVENTS: "error" };
    const cutOff = await children.worker(db.schema, { ...config, DATABASE_URL: proxied });
    await children.worker(db.schema, config);
    const first = await db.enqueueLedgerJobs(wave, () => ({ sleepMs: 50 }));
    // Cut while the worker behind the proxy is in the middle of its work.
    const { sql, schema } = db;
    await waitUntil(async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.ledger where worker = ${cutOff.workerId}`;
      return (row?.n ?? 0) >= 20 ? true : undefined;
    }, "the proxied worker to complete some jobs", 30_000, 20);
    const cutAt = Date.now();
    const frozen = proxy.blackhole();
    expect(frozen).toBeGreaterThan(0);

    // The other worker rescues what the cut-off one held, after its lease.
    await db.waitForStatus("completed", wave, leaseMs + 30_000);
    const firstFacts = await db.ledgerFacts(first);
    expect(firstFacts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0 });

    // The cut-off worker recovers by itself: it completes jobs again, over fresh connections.
    const second = await db.enqueueLedgerJobs(wave, () => ({ sleepMs: 50 }));
    const recovered = await waitUntil(async () => {
      const [row] = await sql<{ at: Date }[]>`select min(at) as at from ${sql(schema)}.ledger where worker = ${cutOff.workerId} and job_id = any(${second}::uuid[])`;
      return row?.at ?? undefined;
    }, "the cut-off worker to complete jobs again", leaseMs + 30_000);
    await db.waitForStatus("completed", 2 * wave, 30_000);
    const facts = await db.ledgerFacts([...first, ...second]);
    expect(facts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0, completions: 2 * wave });
    const recoveryMs = recovered.getTime() - cutAt;
    report("7 half-open", { jobs: 2 * wave, faults: `${frozen} connections blackholed`, leaseMs, recoveryMs, lost: facts.lost, duplicated: facts.duplicated, attempts: facts.attempts });
  }, size(120_000, 300_000));
});
