import { randomUUID } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import type { Json, NewJob } from "../../src/types.js";
import { describePostgres, newPostgresStorage } from "../support/postgres.js";
import { HOSTILE, newJob } from "./fixtures.js";

// An insert sends its rows as one text array per column (JSON columns as JSON text): text that
// means something in an array literal or in JSON must come back exactly as it went in, on the
// one-statement insert (jobs without dependencies) and on the planned one (a graph, a key).

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const PAYLOADS: Json[] = [...HOSTILE, null, 0, -1.5, true, [], {}, { nested: ["}", '"', "\\", null, { "k,\"": "{}" }] }, HOSTILE];

/** The jobs as the store returned them and as it reads them back: equal to what was sent, field by field. */
async function expectStoredAsSent(jobs: readonly NewJob[], dependsOn: (job: NewJob) => readonly string[] = () => []) {
  const { storage, cleanup } = await newPostgresStorage({ listen: false });
  cleanups.push(cleanup);
  const { jobs: inserted } = await storage.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
  const read = await Promise.all(jobs.map((job) => storage.getJob(job.id)));
  for (const [i, job] of jobs.entries()) {
    for (const record of [inserted[i]!.job, read[i]]) {
      expect(record).toMatchObject({
        id: job.id.toLowerCase(), type: job.type, payload: job.payload, maxAttempts: job.maxAttempts, backoff: job.backoff, resources: job.resources,
        idempotencyKey: job.idempotencyKey, timeoutMs: job.timeoutMs, runAt: job.runAt, dependsOn: dependsOn(job),
      });
    }
    // What the store answered is what it holds: the insert's record equals a read.
    expect(inserted[i]!.job).toEqual(read[i]);
  }
}

describePostgres("PostgreSQL insert input", () => {
  it("stores every payload of a batch without dependencies as given, whatever array-literal or JSON syntax it holds", async () => {
    await expectStoredAsSent(PAYLOADS.map((payload) => newJob({ payload })));
  });

  it("stores each job's own backoff, resources and payload when a batch repeats some of them and alternates others", async () => {
    // A column's repeated value is quoted once and a shared object's JSON made once: runs of one value,
    // runs broken by another, an equal object that is not the same one, and nulls between.
    const sharedBackoff = { type: "fixed" as const, baseMs: 5, maxMs: 5, jitter: false };
    const sharedResources = { 'gpu "a"': 1 };
    const jobs = Array.from({ length: 12 }, (_, i) =>
      newJob({
        type: i % 4 === 3 ? "other" : "t",
        payload: i % 3 === 0 ? HOSTILE[0]! : i % 3 === 1 ? HOSTILE[0]! : { i, text: HOSTILE[1]! },
        backoff: i % 5 === 4 ? { type: "exponential", baseMs: i, maxMs: 1_000, jitter: true } : sharedBackoff,
        resources: i === 6 ? { 'gpu "a"': 1 } : i % 4 === 1 ? { cpu: i } : sharedResources,
        timeoutMs: i % 2 === 0 ? undefined : 1_000,
        idempotencyKey: undefined,
      }),
    );
    await expectStoredAsSent(jobs);
  });

  it("stores hostile payloads, an idempotency key and resource names alike when the insert is planned (a graph)", async () => {
    const root = newJob({ payload: HOSTILE, idempotencyKey: 'k "{x,y}" \\ NULL', resources: { 'gpu "a"': 1 } });
    const jobs = [root, ...PAYLOADS.map((payload, i) => newJob({ payload, dependsOn: [root.id], timeoutMs: 1_000 + i }))];
    await expectStoredAsSent(jobs, (job) => job.dependsOn);
  });

  it("stores a lone job with a hostile idempotency key", async () => {
    await expectStoredAsSent([newJob({ payload: { "a,\"}": "\\" }, idempotencyKey: '{"NULL",}' })]);
  });

  it("answers upper-case ids as PostgreSQL prints them, alone and in a batch, as a read does", async () => {
    await expectStoredAsSent([newJob({ id: randomUUID().toUpperCase() })]);
    const { storage, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const jobs = [newJob({ id: randomUUID().toUpperCase() }), newJob({ id: randomUUID().toUpperCase() })];
    const { jobs: inserted } = await storage.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
    expect(inserted.map(({ job }) => job.id)).toEqual(jobs.map((job) => job.id.toLowerCase()));
    for (const { job } of inserted) expect(await storage.getJob(job.id)).toEqual(job);
  });

  it("refuses a job without backoff or resources (a caller outside the types) and stores nothing of its batch", async () => {
    const { storage, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    for (const missing of ["backoff", "resources"] as const) {
      for (const size of [1, 3]) {
        const jobs = Array.from({ length: size }, () => newJob());
        jobs[size - 1] = { ...jobs[size - 1]!, [missing]: undefined } as unknown as NewJob;
        const error = await storage.insertJobs({ jobs, onDuplicate: "reject", now: new Date() }).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: "STORAGE" });
        expect(await Promise.all(jobs.map((job) => storage.getJob(job.id)))).toEqual(jobs.map(() => undefined));
      }
    }
  });
});
