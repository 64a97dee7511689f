import { afterEach, expect, it } from "vitest";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { listenerApplicationName } from "../../src/storage/postgres/listener.js";
import type { JobChange } from "../../src/types.js";
import { adminSql, databaseUrl, describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";
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
    expect(seen.resets()).toBe(0);

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
    await eventually(() => (seen.resets() > 0 ? true : undefined), "onReset after the re-listen");
    const after = newJob();
    await writer.insertJobs({ jobs: [after], onDuplicate: "reject", now: new Date() });
    await eventually(() => seen.changes.find((c) => c.id === after.id), "a change after the reconnect");
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
