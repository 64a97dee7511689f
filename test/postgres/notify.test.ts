import { afterEach, expect, it } from "vitest";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { listenerApplicationName } from "../../src/storage/postgres/listener.js";
import type { JobChange } from "../../src/types.js";
import { adminSql, databaseUrl, describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";
import { TcpProxy, targetOf } from "../support/tcp-proxy.js";
import { claimAny, newJob } from "./fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function pair() {
  const { storage: writer, schema, cleanup } = await newPostgresStorage();
  cleanups.push(cleanup);
  const reader = new PostgresStorage({ connectionString: databaseUrl, schema, max: 2 });
  cleanups.push(() => reader.close());
  return { writer, reader, schema };
}

/** Subscribes and resolves once LISTEN is in place (proved by a change arriving). */
function record(storage: PostgresStorage) {
  const changes: JobChange[] = [];
  let resets = 0;
  storage.subscribe({ onChange: (batch) => changes.push(...batch), onReset: () => resets++ });
  return { changes, resets: () => resets };
}

/**
 * LISTEN is set up asynchronously: inserts probe jobs until the reader has heard one. A probe's
 * notification may arrive after the next probe is inserted, so any probe of this wait counts.
 */
async function untilHeard(writer: PostgresStorage, changes: readonly JobChange[]): Promise<void> {
  const probes = new Set<string>();
  await eventually(async () => {
    const probe = newJob();
    probes.add(probe.id);
    await writer.insertJobs({ jobs: [probe], onDuplicate: "reject", now: new Date() });
    return changes.some((c) => probes.has(c.id)) ? true : undefined;
  }, "the reader to hear a first change");
}

/** A reader of `schema` through its own proxy, with one pool connection (opened first) and quick listen checks. */
async function readerBehindProxy(schema: string) {
  const proxy = new TcpProxy(targetOf(databaseUrl));
  const url = await proxy.start(databaseUrl);
  cleanups.push(() => proxy.close());
  const reader = new PostgresStorage({ connectionString: url, schema, max: 1, listenerCheckMs: 150, listenerTimeoutMs: 400 });
  cleanups.push(() => reader.close());
  await reader.getJob(newJob().id); // its pool's one connection opens first
  return { proxy, reader };
}

/** A writer, and a reader of its schema behind a proxy (see `readerBehindProxy`) that has heard a first change. */
async function writerAndReaderBehindProxy() {
  const { storage: writer, schema, cleanup } = await newPostgresStorage();
  cleanups.push(cleanup);
  const { proxy, reader } = await readerBehindProxy(schema);
  const seen = record(reader);
  await untilHeard(writer, seen.changes);
  return { writer, schema, proxy, reader, seen };
}

/** Resolves once the listen connection of `schema` has answered two more health checks. */
async function twoChecksLater(schema: string): Promise<void> {
  const sql = adminSql();
  try {
    const started = async () =>
      (await sql<{ at: Date }[]>`select query_start as at from pg_stat_activity where application_name = ${listenerApplicationName(schema)}`)[0]?.at?.getTime();
    const first = await started();
    const second = await eventually(async () => { const at = await started(); return at !== undefined && at !== first ? at : undefined; }, "a check");
    await eventually(async () => { const at = await started(); return at !== undefined && at !== second ? true : undefined; }, "another check");
  } finally {
    await sql.end();
  }
}

describePostgres("PostgresStorage change feed", () => {
  it("delivers another instance's changes, with no job data", async () => {
    const { writer, reader } = await pair();
    const seen = record(reader);
    const job = newJob({ payload: { secret: "do not broadcast" } });
    // LISTEN is set up asynchronously; keep inserting until the reader has heard one.
    await untilHeard(writer, seen.changes);
    await writer.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    const change = await eventually(() => seen.changes.find((c) => c.id === job.id), "the insert notification");
    expect(change).toMatchObject({ id: job.id, type: "t", status: "pending", attempt: 0 });
    expect(JSON.stringify(change)).not.toContain("secret");

    const { claimed } = await claimAny(writer, 100);
    await writer.cancelJobs([job.id], new Date());
    await eventually(() => seen.changes.find((c) => c.id === job.id && c.cancelRequested === true), "the cancel request");
    expect(claimed.length).toBeGreaterThan(0);
  });

  it("splits large batches under the payload limit", async () => {
    const { writer, reader } = await pair();
    const seen = record(reader);
    await untilHeard(writer, seen.changes);
    const jobs = Array.from({ length: 500 }, () => newJob());
    await writer.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
    const ids = new Set(jobs.map((j) => j.id));
    await eventually(() => (seen.changes.filter((c) => ids.has(c.id)).length === 500 ? true : undefined), "all 500 changes");
  });

  it("re-listens after its connection is killed, calls onReset, and hears later changes", async () => {
    const { writer, reader } = await pair();
    const seen = record(reader);
    await untilHeard(writer, seen.changes);
    // Once, when LISTEN was first in place (changes before it went unheard).
    expect(seen.resets()).toBe(1);

    const sql = adminSql();
    try {
      // The listen connection carries its schema in its application name.
      const killed = await sql<{ pid: number }[]>`
        select pg_terminate_backend(pid) as ok, pid from pg_stat_activity
        where application_name = ${listenerApplicationName(reader.schema)}`;
      expect(killed.length).toBeGreaterThan(0);
    } finally {
      await sql.end();
    }
    await eventually(() => (seen.resets() > 1 ? true : undefined), "onReset after the re-listen");
    const after = newJob();
    await writer.insertJobs({ jobs: [after], onDuplicate: "reject", now: new Date() });
    await eventually(() => seen.changes.find((c) => c.id === after.id), "a change after the reconnect");
  });

  it("delivers its own changes once each, without reading them back", async () => {
    const { writer, reader } = await pair();
    const seen = record(reader);
    await untilHeard(writer, seen.changes);
    const own = newJob();
    await reader.insertJobs({ jobs: [own], onDuplicate: "reject", now: new Date() });
    await eventually(() => seen.changes.find((c) => c.id === own.id), "its own insert");
    const { claimed } = await claimAny(reader, 100);
    const mine = claimed.find((c) => c.job.id === own.id);
    expect(mine).toBeDefined();
    await reader.settle([{ lease: mine!.lease, outcome: { type: "completed", result: null } }], new Date());
    // A later notification from the other store comes after every one of these.
    const last = newJob();
    await writer.insertJobs({ jobs: [last], onDuplicate: "reject", now: new Date() });
    await eventually(() => seen.changes.find((c) => c.id === last.id), "the other store's last change");
    expect(seen.changes.filter((c) => c.id === own.id).map((c) => c.status)).toEqual(["pending", "running", "completed"]);

    // A write whose changes take several notifications: each change once.
    const many = Array.from({ length: 500 }, () => newJob());
    await reader.insertJobs({ jobs: many, onDuplicate: "reject", now: new Date() });
    const after = newJob();
    await writer.insertJobs({ jobs: [after], onDuplicate: "reject", now: new Date() });
    await eventually(() => seen.changes.find((c) => c.id === after.id), "the other store's change after the big write");
    const ids = new Set(many.map((j) => j.id));
    expect(seen.changes.filter((c) => ids.has(c.id))).toHaveLength(500);
  });

  it("keeps a job's changes in commit order when its own changes would overtake another store's on a slow listen connection", async () => {
    const { writer, proxy, reader, seen } = await writerAndReaderBehindProxy();
    expect(proxy.open).toBe(2);
    const release = proxy.holdReplies(1); // the listen connection
    const job = newJob();
    await writer.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(reader, 100);
    const mine = claimed.find((c) => c.job.id === job.id);
    expect(mine).toBeDefined();
    await reader.settle([{ lease: mine!.lease, outcome: { type: "completed", result: null } }], new Date());
    expect(seen.changes.filter((c) => c.id === job.id)).toEqual([]);
    release();
    await eventually(() => (seen.changes.filter((c) => c.id === job.id).length === 3 ? true : undefined), "all three changes");
    expect(seen.changes.filter((c) => c.id === job.id).map((c) => c.status)).toEqual(["pending", "running", "completed"]);
  });

  it("delivers its own change once when the notification comes before the commit's answer", async () => {
    const { writer, schema, proxy, reader, seen } = await writerAndReaderBehindProxy();
    // The same insert once before, so its statement is prepared and needs no answer to go out.
    await reader.insertJobs({ jobs: [newJob()], onDuplicate: "reject", now: new Date() });
    const release = proxy.holdReplies(0); // the pool's connection: the insert's answer waits
    const job = newJob();
    const inserting = reader.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    await eventually(() => seen.changes.find((c) => c.id === job.id), "the change, read from its notification");
    release();
    await inserting;
    const later = newJob();
    await writer.insertJobs({ jobs: [later], onDuplicate: "reject", now: new Date() });
    await eventually(() => seen.changes.find((c) => c.id === later.id), "a later change");
    await twoChecksLater(schema);
    expect(seen.changes.filter((c) => c.id === job.id)).toHaveLength(1);
  });

  it("still delivers its own changes when the listen connection stops answering before their notifications came", async () => {
    const { proxy, reader, seen } = await writerAndReaderBehindProxy();
    const { changes } = seen;
    proxy.holdReplies(1); // the listen connection: its notifications and its checks go unanswered
    const job = newJob();
    await reader.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    await eventually(() => changes.find((c) => c.id === job.id), "the change once the listener was given up");
    await eventually(() => (seen.resets() > 0 ? true : undefined), "a reset after listening again");
    expect(changes.filter((c) => c.id === job.id)).toHaveLength(1);
  });

  it("hears back its own insert made in an application's transaction, once, after that commits", async () => {
    const { writer, reader } = await pair();
    const seen = record(reader);
    await untilHeard(writer, seen.changes);
    const job = newJob();
    const sql = adminSql();
    try {
      await sql.begin(async (tx) => {
        await reader.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date(), tx });
        expect(seen.changes.find((c) => c.id === job.id)).toBeUndefined();
      });
    } finally {
      await sql.end();
    }
    await eventually(() => seen.changes.find((c) => c.id === job.id), "the change after the application's commit");
    const later = newJob();
    await writer.insertJobs({ jobs: [later], onDuplicate: "reject", now: new Date() });
    await eventually(() => seen.changes.find((c) => c.id === later.id), "a later change");
    expect(seen.changes.filter((c) => c.id === job.id)).toHaveLength(1);
  });

  it("ignores notifications on its channel that are not change lists, and keeps delivering", async () => {
    const { writer, reader } = await pair();
    const seen = record(reader);
    await untilHeard(writer, seen.changes);
    const before = seen.changes.length;
    const sql = adminSql();
    try {
      for (const payload of ["", "|", "no bar", "abc|{", "abc|[1,2]", "[[1]]", '["x"]', "abc|null", "0|[]", "|".repeat(7_000)]) {
        await sql`select pg_notify(${reader.channel}, ${payload})`;
      }
    } finally {
      await sql.end();
    }
    const after = newJob();
    await writer.insertJobs({ jobs: [after], onDuplicate: "reject", now: new Date() });
    await eventually(() => seen.changes.find((c) => c.id === after.id), "a change after the junk");
    // Only jobs' changes arrived (a late probe of `untilHeard` among them, perhaps), none from the junk.
    for (const change of seen.changes.slice(before)) expect(change).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), type: "t", status: "pending" });
  });

  it("gives every subscriber changes that another subscriber cannot alter", async () => {
    const { writer, reader } = await pair();
    reader.subscribe({
      onChange: (batch) => {
        for (const change of batch) {
          try {
            Object.assign(change, { status: "failed" });
          } catch {
            // Frozen: the point.
          }
        }
        (batch as JobChange[]).length = 0;
      },
    });
    const seen = record(reader);
    await untilHeard(writer, seen.changes);
    const own = newJob();
    const theirs = newJob();
    await reader.insertJobs({ jobs: [own], onDuplicate: "reject", now: new Date() });
    await writer.insertJobs({ jobs: [theirs], onDuplicate: "reject", now: new Date() });
    await eventually(() => seen.changes.find((c) => c.id === theirs.id), "the other store's change");
    for (const id of [own.id, theirs.id]) expect(seen.changes.find((c) => c.id === id)).toMatchObject({ id, status: "pending" });
  });

  it("delivers its own changes in process when LISTEN is off", async () => {
    const { storage, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const seen = record(storage);
    const job = newJob();
    await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    expect(seen.changes.map((c) => [c.id, c.status])).toEqual([[job.id, "pending"]]);
  });
});

describePostgres("PostgresStorage claims and the change feed", () => {
  // Another worker's claim skips the rows this claim holds; those it leaves go back to pending with
  // nothing else to say so, and an idle worker would wait for its poll.
  for (const resources of [{}, { cpu: 1 }]) {
    it(`announces as pending one of each type a claim locked and left (${Object.keys(resources).length === 0 ? "one statement" : "admission in JS"})`, async () => {
      const { writer, reader } = await pair();
      const { changes } = record(reader);
      await untilHeard(writer, changes);
      const first = newJob({ type: "left", priority: "high", resources });
      const second = newJob({ type: "left", priority: "low", resources });
      const other = newJob({ type: "other", priority: "low", resources });
      await writer.insertJobs({ jobs: [first, second, other], onDuplicate: "reject", now: new Date() });
      await eventually(() => (changes.some((c) => c.id === other.id) ? true : undefined), "the inserts to be heard");
      const heardBefore = changes.length;
      const { claimed } = await writer.claimJobs({
        workerId: "w", types: ["left", "other"], limit: 1, free: { cpu: 4 }, capacity: { cpu: 4 }, starvationMs: 300_000, leaseMs: 30_000, now: new Date(),
      });
      expect(claimed.map((c) => c.job.id)).toEqual([first.id]);
      await eventually(() => {
        const since = changes.slice(heardBefore);
        return since.some((c) => c.id === first.id && c.status === "running") && since.some((c) => c.status === "pending") ? since : undefined;
      }, "the claim's changes");
      // One of each type among those it locked: the second of its own type (the next in line), at most one other.
      const pending = changes.slice(heardBefore).filter((c) => c.status === "pending");
      expect(pending.map((c) => c.id)).toContain(second.id);
      expect(pending.every((c) => c.id === second.id || c.id === other.id)).toBe(true);
    });

    // Other queues on the same store object hear its changes in process, not by reading its notification back.
    for (const listen of [true, false]) {
      it(`announces those jobs to the claiming store's own subscribers too (${Object.keys(resources).length === 0 ? "one statement" : "admission in JS"}, LISTEN ${listen ? "on" : "off"})`, async () => {
        const { storage, cleanup } = await newPostgresStorage({ listen });
        cleanups.push(cleanup);
        const { changes } = record(storage);
        if (listen) await untilHeard(storage, changes);
        const first = newJob({ type: "left", priority: "high", resources });
        const second = newJob({ type: "left", priority: "low", resources });
        await storage.insertJobs({ jobs: [first, second], onDuplicate: "reject", now: new Date() });
        await eventually(() => (changes.some((c) => c.id === second.id) ? true : undefined), "the inserts to be heard");
        const heardBefore = changes.length;
        const { claimed } = await storage.claimJobs({
          workerId: "w", types: ["left"], limit: 1, free: { cpu: 4 }, capacity: { cpu: 4 }, starvationMs: 300_000, leaseMs: 30_000, now: new Date(),
        });
        expect(claimed.map((c) => c.job.id)).toEqual([first.id]);
        const since = await eventually(() => {
          const heard = changes.slice(heardBefore);
          return heard.some((c) => c.id === first.id && c.status === "running") ? heard : undefined;
        }, "the claim's changes");
        expect(since.filter((c) => c.status === "pending").map((c) => c.id)).toEqual([second.id]);
      });
    }
  }
});
