import { describe, expect, it } from "vitest";
import { redrive, retryManySchema, type RetryManyFilter } from "../../src/redrive.js";
import type { JobId, JobRecord } from "../../src/types.js";
import { newJob } from "./builders.js";
import type { StoreUnderTest } from "./store-under-test.js";

/** `retryMany` on the store (`redrive` over `listFinishedJobIds` and `retryJob`), and `listFinishedJobIds` itself. */
export function describeRedriveContract(t: StoreUnderTest): void {
  const retryMany = (filter: RetryManyFilter = {}) => redrive(t.storage, retryManySchema.parse(filter), () => new Date());

  /** Inserts `count` jobs of `type` and fails them all; answers them as stored, in insertion order. */
  async function failed(type: string, count = 1, overrides: Parameters<typeof newJob>[0] = {}): Promise<JobRecord[]> {
    const jobs = Array.from({ length: count }, () => newJob({ type, ...overrides }));
    await t.insert(...jobs);
    const { claimed } = await t.claim([type], { limit: count });
    expect(claimed).toHaveLength(count);
    for (const { lease } of claimed) await t.fail(lease);
    return t.storage.getJobs(jobs.map((job) => job.id)).then((stored) => jobs.map((job) => stored.find((s) => s.id === job.id)!));
  }

  const statuses = async (jobs: readonly { id: JobId }[]) => Promise.all(jobs.map((job) => t.status(job.id)));

  describe("redrive", () => {
    it("retries the failed jobs of a type with a fresh attempt budget, and leaves other types and statuses alone", async () => {
      const target = await failed("redrive.a", 3);
      const other = await failed("redrive.b");
      const [cancelled] = await t.insert(newJob({ type: "redrive.a" }));
      await t.storage.cancelJobs([cancelled!.id], new Date());
      expect(await retryMany({ type: "redrive.a" })).toBe(3);
      for (const job of target) expect(await t.job(job.id)).toMatchObject({ status: "pending", attempt: 0, error: undefined, finishedAt: undefined });
      expect(await statuses([...other, cancelled!])).toEqual(["failed", "cancelled"]);
      expect(await retryMany({ type: "redrive.a" })).toBe(0);
    });

    it("retries cancelled jobs only when asked, and both statuses together", async () => {
      const [f] = await failed("redrive.f");
      const [c] = await t.insert(newJob({ type: "redrive.c" }));
      await t.storage.cancelJobs([c!.id], new Date());
      expect(await retryMany({ status: "cancelled" })).toBe(1);
      expect(await statuses([f!, c!])).toEqual(["failed", "pending"]);
      await t.storage.cancelJobs([c!.id], new Date());
      expect(await retryMany({ status: ["failed", "cancelled"] })).toBe(2);
      expect(await statuses([f!, c!])).toEqual(["pending", "pending"]);
    });

    it("matches finish times from finishedAfter (inclusive) to finishedBefore (exclusive)", async () => {
      // Jobs are failed one by one until the last finishes strictly later than the first, on the store's own clock.
      const made: JobRecord[] = await failed("redrive.t");
      while (made.at(-1)!.finishedAt!.getTime() <= made[0]!.finishedAt!.getTime()) made.push(...(await failed("redrive.t")));
      const [early, late] = [made[0]!, made.at(-1)!];
      expect(await retryMany({ finishedAfter: early.finishedAt!, finishedBefore: late.finishedAt! })).toBe(made.length - 1);
      expect(await t.status(early.id)).toBe("pending");
      expect(await t.status(late.id)).toBe("failed");
      expect(await retryMany({ finishedAfter: new Date(late.finishedAt!.getTime() + 1) })).toBe(0);
      expect(await retryMany({ finishedAfter: late.finishedAt!, finishedBefore: new Date(late.finishedAt!.getTime() + 1) })).toBe(1);
      expect(await t.status(late.id)).toBe("pending");
    });

    it("retries a failed dependency before its cancelled dependents, which come back with it and are not counted", async () => {
      const root = newJob({ type: "redrive.root" });
      const mid = newJob({ type: "redrive.dep", dependsOn: [root.id] });
      const leaf = newJob({ type: "redrive.dep", dependsOn: [mid.id] });
      await t.insert(root, mid, leaf);
      await t.fail((await t.claimOne("redrive.root")).lease);
      expect(await statuses([root, mid, leaf])).toEqual(["failed", "cancelled", "cancelled"]);
      expect(await retryMany({ status: ["cancelled", "failed"] })).toBe(1);
      expect(await statuses([root, mid, leaf])).toEqual(["pending", "blocked", "blocked"]);
    });

    it("skips a job it cannot retry: a dependency still failed, or a live job holding its key", async () => {
      const root = newJob({ type: "redrive.root" });
      const dependent = newJob({ type: "redrive.dep", dependsOn: [root.id] });
      await t.insert(root, dependent);
      await t.fail((await t.claimOne("redrive.root")).lease);
      const [keyed] = await failed("redrive.k", 1, { idempotencyKey: "redrive-key" });
      await t.insert(newJob({ type: "redrive.holder", idempotencyKey: "redrive-key", runAt: new Date(Date.now() + 3_600_000) }));
      const [plain] = await failed("redrive.p");
      expect(await retryMany({ status: "cancelled", type: "redrive.dep" })).toBe(0);
      expect(await retryMany({ type: ["redrive.k", "redrive.p"] })).toBe(1);
      expect(await statuses([root, dependent, keyed!, plain!])).toEqual(["failed", "cancelled", "failed", "pending"]);
    });

    it("retries at most limit, oldest first, and the next call goes on", async () => {
      const jobs = await failed("redrive.l", 5);
      expect(await retryMany({ limit: 2 })).toBe(2);
      expect(await statuses(jobs)).toEqual(["pending", "pending", "failed", "failed", "failed"]);
      expect(await retryMany({ limit: 2 })).toBe(2);
      expect(await retryMany({ limit: 2 })).toBe(1);
      expect(await statuses(jobs)).toEqual(Array(5).fill("pending"));
    });

    it("pages through more matches than one read: 250 failed jobs", async () => {
      const jobs = await failed("redrive.many", 250);
      expect(await retryMany()).toBe(250);
      expect(new Set(await statuses(jobs))).toEqual(new Set(["pending"]));
    });

    it("listFinishedJobIds pages oldest first with a cursor, and ends without one", async () => {
      const jobs = await failed("redrive.page", 5);
      const first = await t.storage.listFinishedJobIds({ status: ["failed"], type: ["redrive.page"], limit: 3 });
      expect(first.ids).toEqual(jobs.slice(0, 3).map((job) => job.id));
      expect(first.nextCursor).toBeDefined();
      const second = await t.storage.listFinishedJobIds({ status: ["failed"], type: ["redrive.page"], limit: 3, cursor: first.nextCursor! });
      expect(second).toEqual({ ids: jobs.slice(3).map((job) => job.id), nextCursor: undefined });
    });
  });
}
