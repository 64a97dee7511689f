import { describe, expect, it } from "vitest";
import type { JobId } from "../../src/types.js";
import { attemptError, eventually, newJob, secondsFromNow } from "./builders.js";
import type { StoreUnderTest } from "./store-under-test.js";

/** `JobRecord.attempts` and the status entries of `listLogs`, derived from it and the other status changes. */
export function describeHistoryContract(t: StoreUnderTest): void {
  const statuses = async (id: JobId) =>
    (await t.storage.listLogs(id)).map((entry) => (entry.kind === "status" ? [entry.message, entry.attempt, entry.data] : ["log", entry.attempt, entry.message]));

  describe("attempts", () => {
    it("keeps one entry per attempt through a retry cycle, opened by the claim and closed by the settle", async () => {
      const [job] = await t.insert(newJob());
      expect(job?.attempts).toEqual([]);
      const first = await t.claimOne("test.job");
      expect(first.job.attempts).toEqual([{ attempt: 1, startedAt: expect.any(Date), workerId: "worker-1" }]);
      const retried = await t.settled(first.lease, { type: "retry", error: attemptError("first"), runAt: secondsFromNow(-1) });
      expect(retried.job.attempts).toEqual([
        { attempt: 1, startedAt: expect.any(Date), finishedAt: expect.any(Date), outcome: "retry", error: attemptError("first"), workerId: "worker-1" },
      ]);
      const second = await t.claimOne("test.job", { workerId: "worker-2" });
      const done = await t.complete(second.lease, { ok: true });
      const attempts = done.job.attempts;
      expect(attempts.map((a) => [a.attempt, a.outcome, a.workerId, a.error?.message])).toEqual([
        [1, "retry", "worker-1", "first"],
        [2, "completed", "worker-2", undefined],
      ]);
      for (const entry of attempts) expect(entry.finishedAt!.getTime()).toBeGreaterThanOrEqual(entry.startedAt.getTime());
      expect((await t.job(job!.id)).attempts).toEqual(attempts);
      expect(await statuses(job!.id)).toEqual([
        ["pending", 0, { from: null }],
        ["running", 1, { from: "pending" }],
        ["pending", 1, { from: "running", error: attemptError("first") }],
        ["running", 2, { from: "pending" }],
        ["completed", 2, { from: "running" }],
      ]);
    });

    it("closes the attempt of an expired lease with the rescue's outcome", async () => {
      const [job] = await t.insert(newJob());
      await t.claimOne("test.job", { leaseMs: 50 });
      const [expired] = await eventually(async () => {
        const found = await t.storage.findExpiredLeases(new Date(), 10);
        expect(found).toHaveLength(1);
        return found;
      });
      expect(expired?.job.attempts).toEqual([{ attempt: 1, startedAt: expect.any(Date), workerId: "worker-1" }]);
      await t.settled(expired!.lease, { type: "failed", error: attemptError("lease expired") });
      expect((await t.job(job!.id)).attempts).toEqual([
        { attempt: 1, startedAt: expect.any(Date), finishedAt: expect.any(Date), outcome: "failed", error: attemptError("lease expired"), workerId: "worker-1" },
      ]);
    });

    it("closes an attempt interrupted by shutdown, whose number the next attempt takes again", async () => {
      const [job] = await t.insert(newJob());
      const first = await t.claimOne("test.job");
      const interrupted = await t.settled(first.lease, { type: "interrupted" });
      expect(interrupted.job).toMatchObject({ status: "pending", attempt: 0 });
      expect(interrupted.job.attempts.map((a) => [a.attempt, a.outcome])).toEqual([[1, "interrupted"]]);
      const again = await t.claimOne("test.job");
      expect(again.job.attempts.map((a) => [a.attempt, a.outcome])).toEqual([[1, "interrupted"], [1, undefined]]);
      expect(await statuses(job!.id)).toEqual([
        ["pending", 0, { from: null }],
        ["running", 1, { from: "pending" }],
        ["pending", 0, { from: "running" }],
        ["running", 1, { from: "pending" }],
      ]);
    });

    it("closes the attempt of a job cancelled while running", async () => {
      const [job] = await t.insert(newJob());
      const running = await t.claimOne("test.job");
      expect((await t.storage.cancelJobs([job!.id], new Date())).cancelRequested).toEqual([job!.id]);
      await t.storage.appendLogs([{ jobId: job!.id, attempt: 1, at: new Date(), level: "info", message: "stopping" }]);
      await t.settled(running.lease, { type: "cancelled", error: attemptError("cancelled") });
      expect((await t.job(job!.id)).attempts.map((a) => [a.outcome, a.error])).toEqual([["cancelled", attemptError("cancelled")]]);
      expect(await statuses(job!.id)).toEqual([
        ["pending", 0, { from: null }],
        ["running", 1, { from: "pending" }],
        ["log", 1, "stopping"],
        ["cancelled", 1, { from: "running", error: attemptError("cancelled") }],
      ]);
    });

    it("keeps the attempts of a failed job across its retry", async () => {
      const [job] = await t.insert(newJob());
      await t.fail((await t.claimOne("test.job")).lease);
      await t.storage.retryJob(job!.id, new Date());
      const again = await t.claimOne("test.job");
      await t.storage.appendLogs([{ jobId: job!.id, attempt: 1, at: new Date(), level: "info", message: "second life" }]);
      await t.complete(again.lease);
      expect((await t.job(job!.id)).attempts.map((a) => [a.attempt, a.outcome])).toEqual([[1, "failed"], [1, "completed"]]);
      expect(await statuses(job!.id)).toEqual([
        ["pending", 0, { from: null }],
        ["running", 1, { from: "pending" }],
        ["failed", 1, { from: "running", error: attemptError() }],
        ["pending", 0, { from: "failed" }],
        ["running", 1, { from: "pending" }],
        ["log", 1, "second life"],
        ["completed", 1, { from: "running" }],
      ]);
    });
  });

  describe("status entries of listLogs", () => {
    it("derives cancels, cascades, revivals and unblocks in the order they happened", async () => {
      const root = newJob({ type: "root" });
      const child = newJob({ dependsOn: [root.id] });
      await t.insert(root, child);
      await t.storage.cancelJobs([root.id], new Date());
      await t.storage.retryJob(root.id, new Date());
      await t.run("root");
      const { lease } = await t.claimOne("test.job");
      await t.storage.appendLogs([{ jobId: child.id, attempt: 1, at: new Date(), level: "info", message: "hello", data: { n: 1 } }]);
      await t.complete(lease);

      const cascadeError = (await statuses(child.id))[1]?.[2];
      expect(cascadeError).toMatchObject({ from: "blocked", error: { code: "DEPENDENCY_FAILED" } });
      expect(await statuses(child.id)).toEqual([
        ["blocked", 0, { from: null }],
        ["cancelled", 0, cascadeError],
        ["blocked", 0, { from: "cancelled" }],
        ["pending", 0, { from: "blocked" }],
        ["running", 1, { from: "pending" }],
        ["log", 1, "hello"],
        ["completed", 1, { from: "running" }],
      ]);
      expect(await statuses(root.id)).toEqual([
        ["pending", 0, { from: null }],
        ["cancelled", 0, { from: "pending" }],
        ["pending", 0, { from: "cancelled" }],
        ["running", 1, { from: "pending" }],
        ["completed", 1, { from: "running" }],
      ]);
      const logs = await t.storage.listLogs(child.id);
      expect(logs[5]).toMatchObject({ kind: "log", level: "info", data: { n: 1 } });
      for (let i = 1; i < logs.length; i++) expect(logs[i]!.seq).toBeGreaterThan(logs[i - 1]!.seq);
    });

    it("derives the creation of a job cancelled at insert by a failed dependency, with its error", async () => {
      const root = newJob({ type: "root" });
      await t.insert(root);
      await t.fail((await t.claimOne("root")).lease);
      const child = newJob({ dependsOn: [root.id] });
      await t.insert(child);
      const created = await statuses(child.id);
      expect(created).toEqual([["cancelled", 0, { from: null, error: expect.objectContaining({ code: "DEPENDENCY_FAILED" }) }]]);
      await t.storage.retryJob(root.id, new Date());
      expect(await statuses(child.id)).toEqual([...created, ["blocked", 0, { from: "cancelled" }]]);
    });
  });
}
