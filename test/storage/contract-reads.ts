import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Json, JobChange, JobId } from "../../src/types.js";
import { attemptError, eventually, newJob, secondsFromNow } from "./builders.js";
import type { StoreUnderTest } from "./store-under-test.js";

/** Reading jobs back, their logs, the change feed, and what JSON storage keeps. */
export function describeReadContract(t: StoreUnderTest): void {
  describe("reads", () => {
    it("getJobs returns the known jobs and leaves unknown ids out", async () => {
      const [a, b] = await t.insert(newJob(), newJob());
      const found = await t.storage.getJobs([a!.id, randomUUID(), b!.id]);
      expect(found.map((j) => j.id).sort()).toEqual([a!.id, b!.id].sort());
      expect(await t.storage.getJob(randomUUID())).toBeUndefined();
    });

    it("listJobs lists newest first, filters, and pages through every job exactly once", async () => {
      const ids: JobId[] = [];
      for (let i = 0; i < 7; i++) ids.push((await t.insert(newJob({ type: i % 2 === 0 ? "even" : "odd" })))[0]!.id);
      await t.storage.cancelJobs([ids[1]!, ids[4]!], new Date());
      const newestFirst = [...ids].reverse();

      expect((await t.storage.listJobs({ limit: 100 })).jobs.map((j) => j.id)).toEqual(newestFirst);
      const paged: JobId[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const result = await t.storage.listJobs(cursor === undefined ? { limit: 3 } : { limit: 3, cursor });
        expect(result.jobs.length).toBeLessThanOrEqual(3);
        paged.push(...result.jobs.map((j) => j.id));
        cursor = result.nextCursor;
        if (cursor === undefined) break;
      }
      expect(cursor).toBeUndefined();
      expect(paged).toEqual(newestFirst);

      const list = async (query: { status?: ["cancelled"]; type?: ["even"] }) =>
        (await t.storage.listJobs({ limit: 100, ...query })).jobs.map((j) => j.id);
      expect(await list({ status: ["cancelled"] })).toEqual([ids[4], ids[1]]);
      expect(await list({ type: ["even"] })).toEqual([ids[6], ids[4], ids[2], ids[0]]);
      expect(await list({ status: ["cancelled"], type: ["even"] })).toEqual([ids[4]]);
    });

    it("listJobs ends a page before the job that would take it past maxBytes, never below one job, and pages through every job exactly once", async () => {
      const sizes = [100_000, 100_000, 500_000, 10, 100_000, 100_000, 100_000, 10, 10, 340_000, 1_000, 1_000];
      const ids: JobId[] = [];
      for (const [i, size] of sizes.entries()) {
        ids.push((await t.insert(newJob({ type: i % 3 === 0 ? "third" : "other", payload: "x".repeat(size) })))[0]!.id);
      }
      const bytes = new Map(ids.map((id, i) => [id, sizes[i]! + 2])); // the JSON text of a string payload
      const maxBytes = 350_000;
      /** The pages the rule makes of `expected` (newest first): greedy within maxBytes and limit, at least one job each. */
      const pagesOf = (expected: readonly JobId[], limit: number) => {
        const pages: JobId[][] = [];
        for (const id of expected) {
          const page = pages.at(-1);
          const total = (page ?? []).reduce((sum, j) => sum + bytes.get(j)!, 0);
          if (page !== undefined && page.length < limit && total + bytes.get(id)! <= maxBytes) page.push(id);
          else pages.push([id]);
        }
        return pages;
      };
      const pagesFrom = async (query: { limit: number; type?: string[] }) => {
        const pages: JobId[][] = [];
        let cursor: string | undefined;
        for (let i = 0; i < 20; i++) {
          const page = await t.storage.listJobs({ ...query, maxBytes, ...(cursor === undefined ? {} : { cursor }) });
          expect(page.jobs.length).toBeGreaterThan(0);
          pages.push(page.jobs.map((j) => j.id));
          cursor = page.nextCursor;
          if (cursor === undefined) break;
        }
        expect(cursor).toBeUndefined();
        return pages;
      };
      const newestFirst = [...ids].reverse();
      const all = await pagesFrom({ limit: 100 });
      expect(all).toEqual(pagesOf(newestFirst, 100));
      expect(all.flat()).toEqual(newestFirst);
      expect(all).toHaveLength(4);
      expect(await pagesFrom({ limit: 2 })).toEqual(pagesOf(newestFirst, 2));
      const thirds = newestFirst.filter((id) => ids.indexOf(id) % 3 === 0);
      expect(await pagesFrom({ limit: 100, type: ["third"] })).toEqual(pagesOf(thirds, 100));
      // A job larger than maxBytes is a page of its own, and the next page follows it.
      const big = await t.storage.listJobs({ limit: 100, maxBytes: 10 });
      expect(big.jobs.map((j) => j.id)).toEqual([newestFirst[0]]);
      expect(big.nextCursor).toBeDefined();
      expect((await t.storage.listJobs({ limit: 100 })).jobs).toHaveLength(sizes.length);
    });

    it("listJobs and listFinishedJobIds refuse a cursor no listing gave, and start one past the newest job at the newest", async () => {
      const [job] = await t.insert(newJob());
      await t.run(job!.type);
      const encoded = (text: string) => Buffer.from(text).toString("base64url");
      const refused = ["", "IA", encoded("1e3"), encoded("0x10"), encoded(" 5"), encoded("5 "), encoded("-1"), encoded("+5"), encoded("1.5"), encoded("9".repeat(19))];
      for (const cursor of refused) {
        await expect(t.storage.listJobs({ limit: 10, cursor }), `listJobs ${JSON.stringify(cursor)}`).rejects.toMatchObject({ code: "VALIDATION" });
        await expect(t.storage.listFinishedJobIds({ status: ["completed"], limit: 10, cursor }), `listFinishedJobIds ${JSON.stringify(cursor)}`)
          .rejects.toMatchObject({ code: "VALIDATION" });
      }
      const pastTheNewest = encoded("9".repeat(18));
      expect((await t.storage.listJobs({ limit: 10, cursor: pastTheNewest })).jobs.map((j) => j.id)).toEqual([job!.id]);
      expect((await t.storage.listFinishedJobIds({ status: ["completed"], limit: 10, cursor: pastTheNewest })).ids).toEqual([]);
    });

    it("countJobs counts jobs by status and pending jobs by priority", async () => {
      const [root] = await t.insert(
        newJob({ type: "root" }), newJob({ priority: "critical" }), newJob({ priority: "low", runAt: secondsFromNow(3_600) }),
        newJob({ type: "running" }), newJob({ type: "done" }), newJob({ type: "gone" }),
      );
      await t.insert(newJob({ dependsOn: [root!.id] }));
      await t.claimOne("running");
      await t.run("done");
      await t.fail((await t.claimOne("gone")).lease);
      expect(await t.storage.countJobs()).toEqual({
        byStatus: { blocked: 1, pending: 3, running: 1, completed: 1, failed: 1, cancelled: 0 },
        pendingByPriority: { critical: 1, high: 0, normal: 1, low: 1 },
      });
    });

    it("keeps payloads and results as JSON", async () => {
      const at = new Date("2026-01-02T03:04:05.000Z");
      const payload = { at, nested: { list: [1, "two", null] } } as unknown as Json;
      const [job] = await t.insert(newJob({ payload }));
      expect(job?.payload).toEqual({ at: at.toISOString(), nested: { list: [1, "two", null] } });
      await t.run("test.job", { total: 3, at } as unknown as Json);
      expect((await t.job(job!.id)).result).toEqual({ total: 3, at: at.toISOString() });
    });
  });

  describe("logs", () => {
    it("lists status changes and handler lines in order, each with its attempt", async () => {
      const [job] = await t.insert(newJob());
      const id = job!.id;
      const first = await t.claimOne("test.job");
      await t.storage.appendLogs([{ jobId: id, attempt: 1, at: new Date(), level: "info", message: "first try", data: { step: 1 } }]);
      await t.settled(first.lease, { type: "retry", error: attemptError(), runAt: secondsFromNow(-1) });
      const second = await t.claimOne("test.job");
      await t.storage.appendLogs([
        { jobId: id, attempt: 2, at: new Date(), level: "warn", message: "second try" },
        { jobId: id, attempt: 2, at: new Date(), level: "debug", message: "almost" },
      ]);
      await t.complete(second.lease);

      const logs = await t.storage.listLogs(id);
      expect(logs.map((l) => [l.kind, l.message, l.attempt])).toEqual([
        ["status", "pending", 0], ["status", "running", 1], ["log", "first try", 1], ["status", "pending", 1],
        ["status", "running", 2], ["log", "second try", 2], ["log", "almost", 2], ["status", "completed", 2],
      ]);
      for (let i = 1; i < logs.length; i++) expect(logs[i]!.seq).toBeGreaterThan(logs[i - 1]!.seq);
      expect(logs[1]?.data).toMatchObject({ from: "pending" });
      expect(logs[2]).toMatchObject({ level: "info", data: { step: 1 } });
      expect(logs[3]?.data).toMatchObject({ from: "running", error: attemptError() });
      expect(await t.storage.listLogs(randomUUID())).toEqual([]);
    });
  });

  describe("subscribe", () => {
    it("publishes status changes and cancel requests", async () => {
      const seen: JobChange[] = [];
      const unsubscribe = t.storage.subscribe({ onChange: (changes) => seen.push(...changes) });
      try {
        await feedIsLive(t, seen);
        await t.insert(newJob({ type: "watched" }), newJob({ type: "stopped" }));
        const watched = await t.run("watched", "done");
        await eventually(() => {
          expect(seen).toContainEqual(expect.objectContaining({ id: watched.job.id, type: "watched", status: "completed", attempt: 1 }));
        });
        const stopped = await t.claimOne("stopped");
        await t.storage.cancelJobs([stopped.job.id], new Date());
        await eventually(() => {
          expect(seen).toContainEqual(expect.objectContaining({ id: stopped.job.id, status: "running", cancelRequested: true }));
        });
      } finally {
        unsubscribe();
      }
    });
  });
}

/**
 * Waits until changes reach the listener (a store may need a moment to start listening) by
 * inserting probe jobs until one of them is seen.
 */
async function feedIsLive(t: StoreUnderTest, seen: readonly JobChange[]): Promise<void> {
  const probes = new Set<JobId>();
  await eventually(
    async () => {
      const [probe] = await t.insert(newJob({ type: "probe" }));
      probes.add(probe!.id);
      expect(seen.some((change) => probes.has(change.id))).toBe(true);
    },
    { intervalMs: 100 },
  );
}
