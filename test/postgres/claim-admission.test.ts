import { afterEach, expect, it } from "vitest";
import { fits } from "../../src/resources.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { Storage } from "../../src/storage/storage.js";
import type { NewJob } from "../../src/types.js";
import { claimRequest, newJob, secondsFromNow } from "../storage/builders.js";
import { adminSql, describePostgres, newPostgresStorage } from "../support/postgres.js";

describePostgres("PostgresStorage resource claims, as MemoryStorage admits", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  async function pg() {
    const s = await newPostgresStorage();
    cleanups.push(s.cleanup);
    return s;
  }
  const insert = (storage: Storage, jobs: NewJob[]) => storage.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });

  it("reports a low-priority job beyond the capacity while more fitting jobs of a higher priority wait than a claim looks at", async () => {
    const runAt = secondsFromNow(-10);
    const fitting = Array.from({ length: 100 }, () => newJob({ priority: "critical", resources: { gpu: 1 }, runAt }));
    const huge = newJob({ priority: "low", resources: { gpu: 5 }, runAt });
    const request = claimRequest(["test.job"], { limit: 1, free: { gpu: 1 }, capacity: { gpu: 1 } });
    const memory = new MemoryStorage();
    await insert(memory, [...fitting, huge]);
    expect((await memory.claimJobs(request)).unschedulable).toContain(huge.id);
    const { storage } = await pg();
    await insert(storage, [...fitting, huge]);
    const result = await storage.claimJobs(request);
    expect(result.claimed).toHaveLength(1);
    expect(result.unschedulable).toContain(huge.id);
  });

  it("claims a job that fits the capacity as fits() compares it (4.0000005 of 4), as the enqueue's check accepted it", async () => {
    const job = newJob({ resources: { gpu: 4.0000005 } });
    expect(fits(job.resources, { gpu: 4 })).toBe(true); // enqueue accepts it for this capacity
    const request = claimRequest(["test.job"], { limit: 1, free: { gpu: 4 }, capacity: { gpu: 4 } });
    const memory = new MemoryStorage();
    await insert(memory, [job]);
    expect((await memory.claimJobs(request)).claimed.map((c) => c.job.id)).toEqual([job.id]);
    const { storage } = await pg();
    await insert(storage, [job]);
    const result = await storage.claimJobs(request);
    expect(result.claimed.map((c) => c.job.id)).toEqual([job.id]);
  });

  for (const [label, value] of [["an array", "[1]"], ["a number", "3"], ["a string value", '{"gpu":"2"}'], ["a huge number", '{"gpu":1e400}']] as const) {
    it(`claims on past a job whose stored resources are ${label} (written by hand)`, async () => {
      const { storage, schema } = await pg();
      const bad = newJob({ runAt: secondsFromNow(-20) });
      const good = newJob({ resources: { gpu: 1 }, runAt: secondsFromNow(-10) });
      await insert(storage, [bad, good]);
      const sql = adminSql();
      try {
        await sql`update ${sql(schema)}.jobs set resources = ${value}::text::jsonb where id = ${bad.id}`;
      } finally {
        await sql.end({ timeout: 5 });
      }
      const result = await storage.claimJobs(claimRequest(["test.job"], { limit: 2, free: { gpu: 1 }, capacity: { gpu: 1 } }));
      expect(result.claimed.map((c) => c.job.id)).toContain(good.id);
    });
  }
});
