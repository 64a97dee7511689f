import { afterEach, expect, it } from "vitest";
import { Queue } from "../../src/queue.js";
import { PostgresStorage, listenerApplicationName } from "../../src/storage/postgres/index.js";
import type { JobChange } from "../../src/types.js";
import { adminSql, databaseUrl, describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";
import { TcpProxy, targetOf } from "../support/tcp-proxy.js";
import { newJob } from "./fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A quickly checked listener: a dead connection is noticed within about half a second. */
const FAST = { listenerCheckMs: 150, listenerTimeoutMs: 400 } as const;

async function writerAndReader(readerUrl = databaseUrl) {
  const { storage: writer, schema, cleanup } = await newPostgresStorage({ listen: false });
  cleanups.push(cleanup);
  const reader = new PostgresStorage({ connectionString: readerUrl, schema, max: 2, ...FAST });
  cleanups.push(() => reader.close());
  const changes: JobChange[] = [];
  let resets = 0;
  reader.subscribe({ onChange: (batch) => changes.push(...batch), onReset: () => resets++ });
  /**
   * Inserts jobs until the reader hears one of them: LISTEN is in place and delivers. A
   * notification may arrive after the next probe is inserted, so any probe of this wait counts.
   */
  const delivers = (what: string) => {
    const probes = new Set<string>();
    return eventually(
      async () => {
        const probe = newJob();
        probes.add(probe.id);
        await writer.insertJobs({ jobs: [probe], onDuplicate: "reject", now: new Date() });
        return changes.some((c) => probes.has(c.id)) ? true : undefined;
      },
      what,
      15_000,
    );
  };
  // The first LISTEN resets too (changes before it went unheard): counted from the first delivery on.
  let base: number | undefined;
  const deliversFirst = async (what: string) => {
    await delivers(what);
    base ??= resets;
  };
  return { writer, reader, schema, delivers: deliversFirst, resets: () => resets - (base ?? 0) };
}

describePostgres("PostgresStorage listener recovery", () => {
  it("re-listens after every pg_terminate_backend, calls onReset each time, and still delivers", async () => {
    const { schema, delivers, resets } = await writerAndReader();
    await delivers("a first change");
    const sql = adminSql();
    cleanups.push(() => sql.end());
    for (let round = 1; round <= 5; round++) {
      const killed = await sql`
        select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${listenerApplicationName(schema)}`;
      expect(killed.length).toBe(1);
      await eventually(() => (resets() >= round ? true : undefined), `onReset after kill ${round}`);
      await delivers(`a change after kill ${round}`);
    }
    expect(resets()).toBe(5);
  });

  it("keeps trying while the server is unreachable, then listens again and resets", async () => {
    const proxy = new TcpProxy(targetOf(databaseUrl));
    const url = await proxy.start(databaseUrl);
    cleanups.push(() => proxy.close());
    const { reader, delivers, resets } = await writerAndReader(url);
    await delivers("a first change");

    proxy.refuse();
    await eventually(() => (reader.listening ? undefined : true), "the listener to notice the loss");
    // Several re-listens fail meanwhile; postgres.js on its own would have given up after the first.
    const before = proxy.refused;
    await eventually(() => (proxy.refused >= before + 3 ? true : undefined), "three failed re-listens");
    expect(resets()).toBe(0);
    proxy.reopen();

    await eventually(() => (resets() === 1 ? true : undefined), "onReset once the server is back");
    await delivers("a change after the outage");
  });

  it("replaces a half-open listen connection that stopped answering", async () => {
    const proxy = new TcpProxy(targetOf(databaseUrl));
    const url = await proxy.start(databaseUrl);
    cleanups.push(() => proxy.close());
    const { delivers, resets } = await writerAndReader(url);
    await delivers("a first change");

    // Nothing closes: only the periodic check can tell that this socket is dead.
    expect(proxy.blackhole()).toBeGreaterThan(0);
    await eventually(() => (resets() === 1 ? true : undefined), "onReset after the check timed out");
    await delivers("a change on the new connection");
  });

  it("stops listening and leaves no connection behind when the last subscriber leaves", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage(FAST);
    cleanups.push(cleanup);
    const unsubscribe = storage.subscribe({ onChange: () => undefined });
    await eventually(() => (storage.listening ? true : undefined), "LISTEN");
    unsubscribe();
    const sql = adminSql();
    cleanups.push(() => sql.end());
    await eventually(async () => {
      const rows = await sql`select 1 from pg_stat_activity where application_name = ${listenerApplicationName(schema)}`;
      return rows.length === 0 ? true : undefined;
    }, "the listen connection to close");
    expect(storage.listening).toBe(false);
  });
});

describePostgres("PostgresStorage listener, first LISTEN", () => {
  it("a job another process enqueues after a worker's first claim and before its first LISTEN is claimed then, not at the poll", async () => {
    const { storage: writer, schema, cleanup } = await newPostgresStorage();
    cleanups.push(cleanup);
    const proxy = new TcpProxy(targetOf(databaseUrl));
    const url = await proxy.start(databaseUrl);
    cleanups.push(() => proxy.close());
    const storage = new PostgresStorage({ connectionString: url, schema, max: 1 });
    cleanups.push(() => storage.close());
    await storage.getJob(newJob().id); // the pool's one connection opens now
    const queue = new Queue({ storage, pollIntervalMs: 60_000, logger: false, capacity: { cpu: 4 } });
    cleanups.push(() => queue.shutdown());
    queue.defineHandler("t", { run: () => "done" });
    let claims = 0;
    const claimJobs = storage.claimJobs.bind(storage);
    storage.claimJobs = async (request) => {
      const result = await claimJobs(request);
      claims++;
      return result;
    };
    // The listen connection, opened by start, waits: a slow first LISTEN.
    proxy.holdNewConnections();
    await queue.start({ migrate: false });
    await eventually(() => (claims > 0 && proxy.waitingConnections > 0 ? true : undefined), "the first claim, and the listen connection waiting");
    // Another process enqueues now: after the first claim, before LISTEN.
    const job = { ...newJob(), type: "t" };
    await writer.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    proxy.releaseNewConnections();
    await eventually(() => (storage.listening ? true : undefined), "LISTEN in place");
    expect(await queue.waitFor(job.id, { timeoutMs: 5_000 }).catch((error: unknown) => error)).toMatchObject({ status: "completed" });
  });
});
