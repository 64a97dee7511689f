import { describe, expect, it } from "vitest";
import type { JobChange, JobId } from "../../src/types.js";
import { claimRequest, eventually, newJob } from "./builders.js";
import type { StoreUnderTest } from "./store-under-test.js";

/** Jobs in a batch larger than any one statement's worth in a store that sends rows in chunks. */
const BULK = 1_500;

/** A batch of many jobs without dependencies: stored whole and as sent, or not at all. */
export function describeBulkInsertContract(t: StoreUnderTest): void {
  describe("insertJobs, a large batch", () => {
    it("stores every job as sent, in input order, and publishes each as pending", async () => {
      const seen = new Set<JobId>();
      const unsubscribe = t.storage.subscribe({ onChange: (changes: readonly JobChange[]) => changes.forEach((c) => c.status === "pending" && seen.add(c.id)) });
      try {
        // Text that a bulk encoding must escape: tabs, line ends, backslashes, quotes, and what looks like markers.
        const awkward = { text: "tab\there\nline\r\nback\\slash \\N \\. \\t", quote: '"q"', unicode: "é ☃ 𝄞" };
        const runAt = new Date(Date.now() - 1_000);
        const jobs = Array.from({ length: BULK }, (_, i) =>
          newJob({ type: "bulk", payload: i === 700 ? awkward : { i }, timeoutMs: i % 2 === 0 ? 5_000 : undefined, maxAttempts: 1 + (i % 5), runAt }),
        );
        const records = await t.insert(...jobs);
        expect(records.map((r) => r.id)).toEqual(jobs.map((j) => j.id));
        expect(records[700]).toMatchObject({ status: "pending", payload: awkward, attempt: 0, dependsOn: [] });
        expect(records[3]).toMatchObject({ payload: { i: 3 }, maxAttempts: 4, timeoutMs: undefined });
        // What the insert answered is what a read returns.
        const stored = new Map((await t.storage.getJobs(jobs.map((j) => j.id))).map((j) => [j.id, j]));
        expect(records.map((r) => stored.get(r.id))).toEqual(records);
        // One priority and run time: claimed in input order.
        const claimed: JobId[] = [];
        for (let round = 0; round < 3; round++) {
          const { claimed: batch } = await t.storage.claimJobs(claimRequest(["bulk"], { limit: 500 }));
          claimed.push(...batch.map((c) => c.job.id));
        }
        expect(claimed).toEqual(jobs.map((j) => j.id));
        await eventually(() => expect(jobs.filter((j) => !seen.has(j.id))).toEqual([]));
      } finally {
        unsubscribe();
      }
    });

    it("rejects a batch holding the id of a stored job and stores none of it", async () => {
      const [existing] = await t.insert(newJob({ type: "bulk" }));
      const jobs = Array.from({ length: BULK }, () => newJob({ type: "bulk" }));
      jobs[BULK - 1] = newJob({ id: existing!.id, type: "bulk" });
      await expect(t.insertBatch(jobs)).rejects.toThrow(/already exists/);
      expect(await t.storage.getJobs(jobs.slice(0, -1).map((j) => j.id))).toEqual([]);
      expect((await t.storage.countJobs()).byStatus.pending).toBe(1);
    });
  });
}
