import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { JobId, JobRecord } from "../../src/types.js";
import { newJob, secondsFromNow } from "./builders.js";
import type { StoreUnderTest } from "./store-under-test.js";

/** Retention: which finished jobs `deleteFinishedJobs` removes, and what it leaves alone. */
export function describeRetentionContract(t: StoreUnderTest): void {
  describe("deleteFinishedJobs", () => {
    const future = () => secondsFromNow(3_600);
    const everything = () => ({ completedBefore: future(), failedBefore: future(), cancelledBefore: future() });

    /** One completed, one failed and one cancelled job, each of its own type with `suffix`. */
    async function finishOneOfEach(suffix: string): Promise<JobRecord[]> {
      const [done, failed, cancelled] = await t.insert(
        newJob({ type: `done${suffix}` }), newJob({ type: `failed${suffix}` }), newJob({ type: `cancelled${suffix}` }),
      );
      await t.run(`done${suffix}`);
      await t.fail((await t.claimOne(`failed${suffix}`)).lease);
      await t.storage.cancelJobs([cancelled!.id], new Date());
      return Promise.all([done!, failed!, cancelled!].map((job) => t.job(job.id)));
    }

    const ids = (jobs: readonly JobRecord[]) => jobs.map((job) => job.id);
    const present = async (jobIds: readonly JobId[]) => (await t.storage.getJobs(jobIds)).map((job) => job.id).sort();

    it("deletes finished jobs older than their status's cutoff and keeps newer ones", async () => {
      const old = await finishOneOfEach(".old");
      await sleep(30);
      const recent = await finishOneOfEach(".new");
      const lastOld = Math.max(...old.map((job) => job.finishedAt!.getTime()));
      const firstRecent = Math.min(...recent.map((job) => job.finishedAt!.getTime()));
      expect(lastOld).toBeLessThan(firstRecent);
      const between = new Date((lastOld + firstRecent) / 2);

      expect(await t.storage.deleteFinishedJobs({ completedBefore: between, failedBefore: between, cancelledBefore: between, limit: 100 })).toBe(3);
      expect(await present([...ids(old), ...ids(recent)])).toEqual(ids(recent).sort());

      // Each status by its own cutoff; a status without one is kept.
      const [done, failed, cancelled] = ids(recent);
      expect(await t.storage.deleteFinishedJobs({ completedBefore: future(), limit: 100 })).toBe(1);
      expect(await present(ids(recent))).toEqual([failed!, cancelled!].sort());
      expect(await t.storage.deleteFinishedJobs({ failedBefore: future(), cancelledBefore: between, limit: 100 })).toBe(1);
      expect(await present(ids(recent))).toEqual([cancelled!]);
      expect(await t.storage.deleteFinishedJobs({ cancelledBefore: future(), limit: 100 })).toBe(1);
      expect(await present([done!, failed!, cancelled!])).toEqual([]);
    });

    it("keeps blocked, pending and running jobs", async () => {
      const [root, pending] = await t.insert(newJob({ type: "root" }), newJob({ type: "waiting", runAt: secondsFromNow(3_600) }));
      const [blocked] = await t.insert(newJob({ dependsOn: [root!.id] }));
      await t.claimOne("root");
      expect(await t.storage.deleteFinishedJobs({ ...everything(), limit: 100 })).toBe(0);
      expect(await present([root!.id, pending!.id, blocked!.id])).toEqual([root!.id, pending!.id, blocked!.id].sort());
    });

    it("keeps a finished dependency while a dependent waits for it, and drops the edge once it is deleted", async () => {
      const [first, second] = await t.insert(newJob({ type: "first" }), newJob({ type: "second" }));
      const [dependent] = await t.insert(newJob({ type: "dependent", dependsOn: [first!.id, second!.id] }));
      await t.run("first");
      expect(await t.storage.deleteFinishedJobs({ ...everything(), limit: 100 })).toBe(0);
      expect(await t.status(first!.id)).toBe("completed");

      await t.run("second");
      expect(await t.status(dependent!.id)).toBe("pending");
      expect(await t.storage.deleteFinishedJobs({ ...everything(), limit: 100 })).toBe(0);

      await t.run("dependent");
      expect(await t.storage.deleteFinishedJobs({ ...everything(), limit: 1 })).toBe(1);
      expect(await t.storage.getJob(first!.id)).toBeUndefined();
      expect((await t.job(dependent!.id)).dependsOn).toEqual([second!.id]);
    });

    it("keeps a failed or cancelled dependency while a dependent exists, so a retry of that dependent is still refused", async () => {
      const [failed, stopped] = await t.insert(newJob({ type: "breaks" }), newJob({ type: "stopped", runAt: secondsFromNow(3_600) }));
      await t.fail((await t.claimOne("breaks")).lease);
      await t.storage.cancelJobs([stopped!.id], new Date());
      // Each dependent is cancelled at once, because of its dependency.
      const [belowFailed, belowStopped] = await t.insert(newJob({ dependsOn: [failed!.id] }), newJob({ dependsOn: [stopped!.id] }));
      expect([await t.status(belowFailed!.id), await t.status(belowStopped!.id)]).toEqual(["cancelled", "cancelled"]);

      // Only failed jobs are due: the failed dependency stays while its dependent does.
      expect(await t.storage.deleteFinishedJobs({ failedBefore: future(), limit: 100 })).toBe(0);
      await expect(t.storage.retryJob(belowFailed!.id, new Date())).rejects.toThrow(failed!.id);
      // Every status due: the dependents go first, then (the next call) what they depended on.
      expect(await t.storage.deleteFinishedJobs({ ...everything(), limit: 100 })).toBe(2);
      expect(await present([failed!.id, stopped!.id, belowFailed!.id, belowStopped!.id])).toEqual([failed!.id, stopped!.id].sort());
      expect(await t.storage.deleteFinishedJobs({ ...everything(), limit: 100 })).toBe(2);
      expect(await present([failed!.id, stopped!.id])).toEqual([]);
    });

    it("deletes at most limit jobs per call, oldest first", async () => {
      const jobs: JobRecord[] = [];
      for (let i = 0; i < 5; i++) {
        const [job] = await t.insert(newJob({ type: `batch.${i}` }));
        await t.run(`batch.${i}`);
        jobs.push(job!);
      }
      const request = { completedBefore: future(), limit: 2 };
      expect(await t.storage.deleteFinishedJobs(request)).toBe(2);
      expect(await present(ids(jobs))).toEqual(ids(jobs.slice(2)).sort());
      expect(await t.storage.deleteFinishedJobs(request)).toBe(2);
      expect(await t.storage.deleteFinishedJobs(request)).toBe(1);
      expect(await t.storage.deleteFinishedJobs(request)).toBe(0);
      expect(await t.totalJobs()).toBe(0);
    });

    it("deletes a job's logs with it", async () => {
      const [job] = await t.insert(newJob({ type: "logged" }));
      const { lease } = await t.claimOne("logged");
      await t.storage.appendLogs([{ jobId: job!.id, attempt: lease.attempt, at: new Date(), level: "info", message: "working" }]);
      await t.complete(lease);
      expect((await t.storage.listLogs(job!.id)).length).toBeGreaterThan(0);

      expect(await t.storage.deleteFinishedJobs({ completedBefore: future(), limit: 10 })).toBe(1);
      expect(await t.storage.getJob(job!.id)).toBeUndefined();
      expect(await t.storage.listLogs(job!.id)).toEqual([]);
      expect((await t.storage.countJobs()).byStatus.completed).toBe(0);
      expect((await t.storage.listJobs({ limit: 10 })).jobs).toEqual([]);
    });
  });
}
