import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { afterEach, expect, it } from "vitest";
import { DEFAULT_BACKOFF } from "../../src/retry.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { NewJob } from "../../src/types.js";
import { databaseUrl, describePostgres, newPostgresStorage } from "../support/postgres.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function job(fields: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(), type: "t", priority: "normal", payload: {}, maxAttempts: 3, backoff: DEFAULT_BACKOFF, dependsOn: [],
    idempotencyKey: undefined, resources: {}, timeoutMs: undefined, runAt: new Date(Date.now() - 1_000), ...fields,
  };
}

describePostgres("PostgresStorage on an application's postgres.js 3.4 pool that loads no types", () => {
  it("claims, settles (with text needing escapes), unblocks and reads jobs by id: lists travel as array literals", async () => {
    // `fetch_types: false`: postgres.js 3.4 never learns the array types, so a JS array sent as a
    // parameter would go out as `a,b` and be refused. Every list jobgraph sends must not depend on them.
    const migrated = await newPostgresStorage({ listen: false });
    cleanups.push(migrated.cleanup);
    const sql = postgres(databaseUrl, { max: 2, fetch_types: false, onnotice: () => undefined });
    cleanups.push(() => sql.end({ timeout: 5 }));
    const storage = new PostgresStorage({ sql, schema: migrated.schema, listen: false });
    cleanups.push(() => storage.close());

    const parent = job();
    const child = job({ dependsOn: [parent.id] });
    await storage.insertJobs({ jobs: [parent, child], onDuplicate: "reject", now: new Date() });
    const { claimed } = await storage.claimJobs({ workerId: "w", types: ["t", 'odd "type" \\ ,{}'], limit: 10, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() });
    expect(claimed.map((c) => c.job.id)).toEqual([parent.id]);
    const result = { text: 'a "quoted" \\ back,slash {braces} NULL' };
    const [settled] = await storage.settle([{ lease: claimed[0]!.lease, outcome: { type: "completed", result } }], new Date());
    expect(settled?.type).toBe("settled");
    const jobs = await storage.getJobs([parent.id, child.id]);
    const byId = new Map(jobs.map((j) => [j.id, j]));
    expect(byId.get(parent.id)?.status).toBe("completed");
    expect(byId.get(parent.id)?.result).toEqual(result);
    expect(byId.get(child.id)?.status).toBe("pending");
  });
});
