import { afterEach, expect, it } from "vitest";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { Outcome } from "../../src/storage/storage.js";
import type { JobChange, Json } from "../../src/types.js";
import { databaseUrl, describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";
import { claimAny, HOSTILE, newJob } from "./fixtures.js";

// The settle sends its batch as one text array per column, and the change notifications are
// written by concatenation: text that means something in an array literal or in JSON must come
// back exactly as it went in.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describePostgres("PostgreSQL settle input", () => {
  it("stores every result and error of one batch as given, whatever array-literal or JSON syntax they hold", async () => {
    const { storage, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const results: Json[] = [...HOSTILE, null, 0, -1.5, true, [], {}, { nested: ["}", '"', "\\", null, { "k,\"": "{}" }] }, HOSTILE];
    const messages = HOSTILE;
    const jobs = [...results, ...messages].map(() => newJob({ maxAttempts: 3 }));
    await storage.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage, jobs.length);
    expect(claimed).toHaveLength(jobs.length);
    const byId = new Map(claimed.map((c) => [c.job.id, c.lease]));
    const runAt = new Date(Date.now() + 3_600_000);
    const outcomes: Outcome[] = [
      ...results.map((result): Outcome => ({ type: "completed", result })),
      ...messages.map((message): Outcome => ({ type: "retry", error: { name: message, message, code: message }, runAt })),
    ];
    const settled = await storage.settle(jobs.map((job, i) => ({ lease: byId.get(job.id)!, outcome: outcomes[i]! })), new Date());
    expect(settled.map((s) => s.type)).toEqual(jobs.map(() => "settled"));

    for (const [i, result] of results.entries()) {
      const job = await storage.getJob(jobs[i]!.id);
      expect(job?.status).toBe("completed");
      expect(job?.result).toEqual(result);
    }
    for (const [i, message] of messages.entries()) {
      const job = await storage.getJob(jobs[results.length + i]!.id);
      expect(job?.status).toBe("pending");
      expect(job?.error).toEqual({ name: message, message, code: message });
      expect(job?.runAt.getTime()).toBe(runAt.getTime());
      expect(job?.attempts.at(-1)?.error).toEqual({ name: message, message, code: message });
    }
  });

  it("stores as JSON null a completion whose result JSON cannot hold (a caller outside the types)", async () => {
    const { storage, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const jobs = [newJob(), newJob()];
    await storage.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
    const { claimed } = await claimAny(storage, 2);
    await storage.settle([
      { lease: claimed[0]!.lease, outcome: { type: "completed", result: undefined as unknown as Json } },
      { lease: claimed[1]!.lease, outcome: { type: "completed", result: (() => 1) as unknown as Json } },
    ], new Date());
    for (const { job } of claimed) expect(await storage.getJob(job.id)).toMatchObject({ status: "completed", result: null });
  });

  it("notifies type names holding JSON syntax exactly, and an overlong one as empty with its id", async () => {
    const { storage: writer, schema, cleanup } = await newPostgresStorage();
    cleanups.push(cleanup);
    const reader = new PostgresStorage({ connectionString: databaseUrl, schema, max: 2 });
    cleanups.push(() => reader.close());
    const changes: JobChange[] = [];
    reader.subscribe({ onChange: (batch) => changes.push(...batch), onReset: () => undefined });
    await eventually(async () => {
      const probe = newJob();
      await writer.insertJobs({ jobs: [probe], onDuplicate: "reject", now: new Date() });
      return changes.length > 0 ? true : undefined;
    }, "the reader to hear a first change");

    const types = ['q"uote', "back\\slash", "ctl\u0001\u001f", "é✓", "x".repeat(1_200)];
    const jobs = types.map((type) => newJob({ type }));
    await writer.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
    const { claimed } = await writer.claimJobs({ workerId: "w", types, limit: 10, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() });
    expect(claimed).toHaveLength(types.length);
    await writer.settle(claimed.map((c) => ({ lease: c.lease, outcome: { type: "completed", result: null } })), new Date());

    for (const [i, job] of jobs.entries()) {
      const expected = i === types.length - 1 ? "" : types[i];
      for (const status of ["pending", "running", "completed"]) {
        const change = await eventually(() => changes.find((c) => c.id === job.id && c.status === status), `${status} of ${job.id}`);
        expect(change.type).toBe(expected);
      }
    }
  });
});
