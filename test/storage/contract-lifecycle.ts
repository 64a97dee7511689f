import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InvalidStateError, JobNotFoundError } from "../../src/errors.js";
import type { JobId, JobRecord } from "../../src/types.js";
import { attemptError, eventually, newJob, secondsFromNow } from "./builders.js";
import type { StoreUnderTest } from "./store-under-test.js";

const sorted = (ids: readonly JobId[]) => [...ids].sort();

/** Settling, leases, cancelling and retrying: what a job goes through after insert. */
export function describeLifecycleContract(t: StoreUnderTest): void {
  /** root <- a <- b (a chain of 3) and root <- c, d <- e (a diamond), plus an unrelated job. */
  async function insertGraph() {
    const root = newJob({ type: "root" });
    const a = newJob({ type: "a", dependsOn: [root.id] });
    const b = newJob({ type: "b", dependsOn: [a.id] });
    const c = newJob({ type: "c", dependsOn: [root.id] });
    const d = newJob({ type: "d", dependsOn: [root.id] });
    const e = newJob({ type: "e", dependsOn: [c.id, d.id] });
    const unrelated = newJob({ type: "unrelated" });
    await t.insert(root, a, b, c, d, e, unrelated);
    return { root, a, b, c, d, e, unrelated, dependents: [a, b, c, d, e].map((j) => j.id) };
  }

  describe("settle", () => {
    it("stores a result and unblocks a dependent only when all its dependencies completed", async () => {
      const a = newJob({ type: "a" });
      const b = newJob({ type: "b", dependsOn: [a.id] });
      const c = newJob({ type: "c", dependsOn: [a.id] });
      const d = newJob({ type: "d", dependsOn: [b.id, c.id] });
      await t.insert(a, b, c, d);

      const first = await t.run("a", { ok: 1 });
      expect(first.job).toMatchObject({ id: a.id, status: "completed", result: { ok: 1 } });
      expect(first.job.finishedAt).toBeInstanceOf(Date);
      expect(sorted(first.unblocked)).toEqual(sorted([b.id, c.id]));
      expect(await t.status(d.id)).toBe("blocked");

      expect((await t.run("b")).unblocked).toEqual([]);
      expect(await t.status(d.id)).toBe("blocked");
      expect((await t.run("c")).unblocked).toEqual([d.id]);
      expect(await t.status(d.id)).toBe("pending");
    });

    it("given the job as claimed, answers the record that a read returns afterwards, for every outcome it may get", async () => {
      const outcomes = [
        { type: "completed", result: { b: [1, "two"], a: null } },
        { type: "completed", result: null },
        { type: "retry", error: attemptError(), runAt: secondsFromNow(60) },
        { type: "interrupted" },
      ] as const;
      const jobs = outcomes.map(() => newJob({ type: "claimed-record", payload: { keep: "me" } }));
      const dependent = newJob({ type: "after", dependsOn: [jobs[0]!.id] });
      await t.insert(...jobs, dependent);
      const { claimed } = await t.claim(["claimed-record"], { limit: outcomes.length });
      expect(claimed).toHaveLength(outcomes.length);
      const byId = new Map(claimed.map((c) => [c.job.id, c]));
      const settlements = jobs.map((job, i) => {
        const held = byId.get(job.id)!;
        return { lease: held.lease, outcome: outcomes[i]!, job: held.job };
      });
      const results = await t.storage.settle(settlements, new Date());
      for (const [i, result] of results.entries()) {
        if (result.type !== "settled") throw new Error(`settlement ${i} was lost`);
        expect(result.job).toEqual(await t.job(jobs[i]!.id));
      }
      expect(results[0]).toMatchObject({ unblocked: [dependent.id] });
      // A stale lease with its job is still lost, and changes nothing.
      const again = await t.storage.settle([settlements[1]!], new Date());
      expect(again).toEqual([{ type: "lost", jobId: jobs[1]!.id }]);
    });

    it("cascades a failure to every transitive dependent, and to nothing else", async () => {
      const graph = await insertGraph();
      const { lease } = await t.claimOne("root");
      const result = await t.fail(lease);
      expect(result.job).toMatchObject({ status: "failed", error: attemptError() });
      expect(sorted(result.cancelled)).toEqual(sorted(graph.dependents));
      for (const id of graph.dependents) {
        expect(await t.job(id)).toMatchObject({ status: "cancelled", error: { name: "DependencyFailedError", code: "DEPENDENCY_FAILED" } });
      }
      expect((await t.job(graph.a.id)).error?.message).toContain(graph.root.id);
      expect(await t.status(graph.unrelated.id)).toBe("pending");
    });

    it("cascades a cancelled outcome too", async () => {
      const root = newJob({ type: "root" });
      const child = newJob({ dependsOn: [root.id] });
      await t.insert(root, child);
      const { lease } = await t.claimOne("root");
      const result = await t.settled(lease, { type: "cancelled", error: { name: "CancelledError", message: "stop" } });
      expect(result.job.status).toBe("cancelled");
      expect(result.cancelled).toEqual([child.id]);
    });

    it("answers lost to a stale token and changes nothing", async () => {
      await t.insert(newJob());
      const { job, lease } = await t.claimOne("test.job");
      const stale = await t.settle({ ...lease, token: randomUUID() }, { type: "completed", result: 1 });
      expect(stale).toEqual({ type: "lost", jobId: job.id });
      expect(await t.job(job.id)).toMatchObject({ status: "running", attempt: 1, result: undefined });

      await t.complete(lease, 2);
      expect(await t.settle(lease, { type: "completed", result: 3 })).toEqual({ type: "lost", jobId: job.id });
      expect((await t.job(job.id)).result).toBe(2);
    });

    it("makes a retried job pending at its runAt, keeping the error", async () => {
      await t.insert(newJob());
      const { lease } = await t.claimOne("test.job");
      const runAt = secondsFromNow(3_600);
      const { job } = await t.settled(lease, { type: "retry", error: attemptError("try again"), runAt });
      expect(job).toMatchObject({ status: "pending", attempt: 1, error: attemptError("try again") });
      expect(job.runAt.getTime()).toBe(runAt.getTime());
      expect((await t.claim(["test.job"])).claimed).toEqual([]);
    });

    it("gives the attempt back when interrupted", async () => {
      const [inserted] = await t.insert(newJob());
      const { lease } = await t.claimOne("test.job");
      const { job } = await t.settled(lease, { type: "interrupted" });
      expect(job).toMatchObject({ status: "pending", attempt: 0 });
      expect(job.runAt.getTime()).toBe(inserted!.runAt.getTime());
      expect((await t.claimOne("test.job")).lease.attempt).toBe(1);
    });

    it("settles a batch and answers in request order", async () => {
      await t.insert(newJob({ type: "x" }), newJob({ type: "y" }));
      const x = await t.claimOne("x");
      const y = await t.claimOne("y");
      const results = await t.storage.settle(
        [{ lease: y.lease, outcome: { type: "failed", error: attemptError() } }, { lease: x.lease, outcome: { type: "completed", result: "x" } }],
        new Date(),
      );
      expect(results.map((r) => (r.type === "settled" ? [r.job.id, r.job.status] : r.type))).toEqual([[y.job.id, "failed"], [x.job.id, "completed"]]);
    });
  });

  describe("leases", () => {
    it("heartbeats report alive, cancel-requested and lost", async () => {
      await t.insert(newJob({ type: "x" }), newJob({ type: "y" }));
      const x = await t.claimOne("x");
      const y = await t.claimOne("y");
      await t.storage.cancelJobs([y.job.id], new Date());
      const stale = { ...x.lease, token: randomUUID() };
      expect(await t.storage.heartbeat([x.lease, y.lease, stale], 30_000, new Date())).toEqual([
        { jobId: x.job.id, state: "alive" }, { jobId: y.job.id, state: "cancel-requested" }, { jobId: x.job.id, state: "lost" },
      ]);
      await t.complete(x.lease);
      expect(await t.storage.heartbeat([x.lease], 30_000, new Date())).toEqual([{ jobId: x.job.id, state: "lost" }]);
    });

    it("a heartbeat extends a lease", async () => {
      await t.insert(newJob());
      const { job, lease } = await t.claimOne("test.job", { leaseMs: 50 });
      await eventually(async () => expect((await t.storage.findExpiredLeases(new Date(), 10)).map((e) => e.job.id)).toEqual([job.id]));
      expect(await t.storage.heartbeat([lease], 60_000, new Date())).toEqual([{ jobId: job.id, state: "alive" }]);
      expect(await t.storage.findExpiredLeases(new Date(), 10)).toEqual([]);
    });

    // A retry settles with the batch's pipelined statements, a failure in a transaction that also cascades.
    it.each([
      ["retry", { type: "retry", error: attemptError("lease expired"), runAt: secondsFromNow(-1) }, "pending"],
      ["failure", { type: "failed", error: attemptError("lease expired") }, "failed"],
    ] as const)("a rescue (%s) applies only to leases still expired: one renewed after it was found stays with its worker", async (_, rescue, rescuedStatus) => {
      await t.insert(newJob({ type: "renewed" }), newJob({ type: "abandoned" }));
      const renewed = await t.claimOne("renewed", { leaseMs: 50 });
      const abandoned = await t.claimOne("abandoned", { leaseMs: 50 });
      const expired = await eventually(async () => {
        const found = await t.storage.findExpiredLeases(new Date(), 10);
        expect(sorted(found.map((e) => e.job.id))).toEqual(sorted([renewed.job.id, abandoned.job.id]));
        return found;
      });
      // The renewed job's worker beats between the rescuer's find and its settle.
      expect(await t.storage.heartbeat([renewed.lease], 60_000, new Date())).toEqual([{ jobId: renewed.job.id, state: "alive" }]);
      const results = await t.storage.settle(expired.map(({ job, lease }) => ({ lease, outcome: rescue, job, onlyIfExpired: true })), new Date());
      const byJob = new Map(expired.map((e, i) => [e.job.id, results[i]]));
      expect(byJob.get(renewed.job.id)).toEqual({ type: "lost", jobId: renewed.job.id });
      expect(byJob.get(abandoned.job.id)).toMatchObject({ type: "settled", job: { id: abandoned.job.id, status: rescuedStatus } });
      expect(await t.job(renewed.job.id)).toMatchObject({ status: "running", attempt: 1 });
      // The worker that renewed it still holds the lease, and its outcome is stored.
      expect(await t.storage.heartbeat([renewed.lease], 60_000, new Date())).toEqual([{ jobId: renewed.job.id, state: "alive" }]);
      expect((await t.settled(renewed.lease, { type: "completed", result: "kept" })).job).toMatchObject({ status: "completed", result: "kept" });
      expect(await t.storage.heartbeat([abandoned.lease], 60_000, new Date())).toEqual([{ jobId: abandoned.job.id, state: "lost" }]);
    });

    it("finds expired leases oldest first; a rescue settles them, and the old lease is lost afterwards", async () => {
      await t.insert(newJob({ type: "first" }), newJob({ type: "second" }), newJob({ type: "long" }));
      const first = await t.claimOne("first", { leaseMs: 50 });
      const second = await t.claimOne("second", { leaseMs: 150 });
      await t.claimOne("long", { leaseMs: 60_000 });

      const expired = await eventually(async () => {
        const found = await t.storage.findExpiredLeases(new Date(), 10);
        expect(found.map((e) => e.job.id)).toEqual([first.job.id, second.job.id]);
        return found;
      });
      expect(expired[0]?.lease).toEqual(first.lease);
      expect((await t.storage.findExpiredLeases(new Date(), 1)).map((e) => e.job.id)).toEqual([first.job.id]);

      const rescue = await t.settled(expired[0]!.lease, { type: "retry", error: attemptError("lease expired"), runAt: secondsFromNow(-1) });
      expect(rescue.job.status).toBe("pending");
      const again = await t.claimOne("first");
      expect(again.lease.attempt).toBe(2);

      expect(await t.settle(first.lease, { type: "completed", result: "late" })).toEqual({ type: "lost", jobId: first.job.id });
      expect(await t.storage.heartbeat([first.lease], 30_000, new Date())).toEqual([{ jobId: first.job.id, state: "lost" }]);
      expect(await t.job(first.job.id)).toMatchObject({ status: "running", attempt: 2, result: undefined });
    });
  });

  describe("cancelJobs", () => {
    it("cancels a dependent named beside its dependency as asked, not blamed on it; a retry of the dependency leaves it cancelled", async () => {
      const a = newJob({ type: "a" });
      const c = newJob({ type: "c", dependsOn: [a.id] });
      await t.insert(a, c);
      const result = await t.storage.cancelJobs([a.id, c.id], new Date());
      expect([...result.cancelled].sort()).toEqual([a.id, c.id].sort());
      const cancelled = await t.storage.getJob(c.id);
      expect(cancelled?.status).toBe("cancelled");
      expect(cancelled?.error).toBeUndefined();
      const { revived } = await t.storage.retryJob(a.id, new Date());
      expect(revived).toEqual([]);
      expect(await t.status(c.id)).toBe("cancelled");
    });

    it("one settle batch failing two dependencies of a job blames the first it lists, and the result of that one's settle names it", async () => {
      const a = newJob({ type: "a" });
      const b = newJob({ type: "b" });
      const c = newJob({ type: "c", dependsOn: [b.id, a.id] });
      await t.insert(a, b, c);
      const [ca, cb] = [await t.claimOne("a"), await t.claimOne("b")];
      const results = await t.storage.settle(
        [
          { lease: ca.lease, outcome: { type: "failed", error: attemptError("a") } },
          { lease: cb.lease, outcome: { type: "failed", error: attemptError("b") } },
        ],
        new Date(),
      );
      expect(results.map((r) => (r.type === "settled" ? r.cancelled : "lost"))).toEqual([[], [c.id]]);
      const victim = await t.storage.getJob(c.id);
      expect(victim?.status).toBe("cancelled");
      expect(victim?.error?.message).toContain(b.id);
    });

    it("cancels waiting jobs with their dependents, asks running ones to stop, leaves terminal ones", async () => {
      const root = newJob({ type: "root" });
      const blocked = newJob({ dependsOn: [root.id] });
      const below = newJob({ dependsOn: [blocked.id] });
      const pending = newJob({ type: "pending" });
      await t.insert(root, blocked, below, pending, newJob({ type: "running" }), newJob({ type: "done" }));
      const running = await t.claimOne("running");
      const done = (await t.run("done")).job;
      const unknown = randomUUID();

      const result = await t.storage.cancelJobs([pending.id, blocked.id, running.job.id, done.id, unknown], new Date());
      expect(sorted(result.cancelled)).toEqual(sorted([pending.id, blocked.id, below.id]));
      expect(result.cancelRequested).toEqual([running.job.id]);
      expect(result.notFound).toEqual([unknown]);
      expect(await t.status(root.id)).toBe("pending");
      expect(await t.job(below.id)).toMatchObject({ status: "cancelled", error: { code: "DEPENDENCY_FAILED" } });
      expect(await t.status(done.id)).toBe("completed");
      expect(await t.status(running.job.id)).toBe("running");

      const stopped = await t.settled(running.lease, { type: "cancelled", error: { name: "CancelledError", message: "cancelled" } });
      expect(stopped.job.status).toBe("cancelled");
    });

    it("stores a retry or release of a job whose cancel was requested as its cancel, cascading; a completion or failure stands", async () => {
      const jobs = ["retry", "release", "rescue", "complete", "fail", "batched"].map((type) => newJob({ type }));
      const children = jobs.map((job) => newJob({ type: "child", dependsOn: [job.id] }));
      await t.insert(...jobs, ...children);
      const claimed = Object.fromEntries(await Promise.all(jobs.map(async (job) => [job.type, await t.claimOne(job.type, { leaseMs: job.type === "rescue" ? 50 : 60_000 })] as const)));
      expect((await t.storage.cancelJobs(jobs.map((job) => job.id), new Date())).cancelRequested).toHaveLength(jobs.length);
      const leaseOf = (type: string) => (claimed[type] as Awaited<ReturnType<typeof t.claimOne>>).lease;

      const retried = await t.settled(leaseOf("retry"), { type: "retry", error: attemptError("try again"), runAt: secondsFromNow(-1) });
      expect(retried.job).toMatchObject({ status: "cancelled", error: { code: "CANCELLED" } });
      expect(retried.cancelled).toEqual([children[0]!.id]);
      expect(retried.job.attempts.at(-1)).toMatchObject({ outcome: "cancelled" });
      const released = await t.settled(leaseOf("release"), { type: "interrupted" });
      expect(released.job).toMatchObject({ status: "cancelled", attempt: 1 });
      expect(released.cancelled).toEqual([children[1]!.id]);
      // The rescue of its expired lease too (it would have run the job again).
      const [expired] = await eventually(async () => {
        const found = await t.storage.findExpiredLeases(new Date(), 10);
        expect(found.map((e) => e.job.id)).toEqual([jobs[2]!.id]);
        return found;
      });
      const [rescued] = await t.storage.settle([{ lease: expired!.lease, job: expired!.job, onlyIfExpired: true, outcome: { type: "retry", error: attemptError("lease expired"), runAt: secondsFromNow(-1) } }], new Date());
      expect(rescued).toMatchObject({ type: "settled", job: { status: "cancelled" }, cancelled: [children[2]!.id] });
      expect((await t.settled(leaseOf("complete"), { type: "completed", result: 1 })).job.status).toBe("completed");
      expect(await t.status(children[3]!.id)).toBe("pending");
      expect((await t.settled(leaseOf("fail"), { type: "failed", error: attemptError() })).job.status).toBe("failed");
      // In a batch with settlements that stand, each answered as stored.
      await t.insert(newJob({ type: "other" }));
      const other = await t.claimOne("other");
      const batch = await t.storage.settle(
        [
          { lease: other.lease, outcome: { type: "retry", error: attemptError(), runAt: secondsFromNow(-1) } },
          { lease: leaseOf("batched"), outcome: { type: "retry", error: attemptError(), runAt: secondsFromNow(-1) } },
        ],
        new Date(),
      );
      expect(batch.map((r) => (r.type === "settled" ? r.job.status : r.type))).toEqual(["pending", "cancelled"]);
      expect(await t.status(children[5]!.id)).toBe("cancelled");
    });

    it("cancels the blocked dependents of a cancelled pending job", async () => {
      const root = newJob();
      const child = newJob({ dependsOn: [root.id] });
      await t.insert(root, child);
      expect(sorted((await t.storage.cancelJobs([root.id], new Date())).cancelled)).toEqual(sorted([root.id, child.id]));
    });
  });

  describe("retryJob", () => {
    it("refuses to bring back two dependents holding one idempotency key, naming the first as it would come back (blocked)", async () => {
      const a = newJob({ type: "a" });
      await t.insert(a);
      const { lease } = await t.claimOne("a");
      await t.settle(lease, { type: "failed", error: attemptError() });
      const first = newJob({ type: "d", dependsOn: [a.id], idempotencyKey: "shared" });
      const second = newJob({ type: "d", dependsOn: [a.id], idempotencyKey: "shared" });
      await t.insert(first);
      await t.insert(second); // the first is cancelled already: its key is free
      const error = await t.storage.retryJob(a.id, new Date()).then(() => undefined, (e: unknown) => e);
      expect(error).toMatchObject({ code: "DUPLICATE_JOB", existingJobId: first.id, existingStatus: "blocked" });
      expect(await t.status(a.id)).toBe("failed");
      expect(await t.status(second.id)).toBe("cancelled");
    });

    it("makes a failed job pending with a fresh attempt budget", async () => {
      await t.insert(newJob({ type: "root" }));
      const { lease } = await t.claimOne("root");
      await t.fail(lease);
      const { job, revived } = await t.storage.retryJob(lease.jobId, new Date());
      expect(job).toMatchObject({ status: "pending", attempt: 0, error: undefined, result: undefined, finishedAt: undefined });
      expect(revived).toEqual([]);
      expect((await t.claimOne("root")).lease.attempt).toBe(1);
    });

    it("brings dependents cancelled because of it back to blocked, transitively", async () => {
      const graph = await insertGraph();
      await t.fail((await t.claimOne("root")).lease);
      const { revived } = await t.storage.retryJob(graph.root.id, new Date());
      expect(sorted(revived)).toEqual(sorted(graph.dependents));
      for (const id of graph.dependents) expect(await t.job(id)).toMatchObject({ status: "blocked", error: undefined });

      const { unblocked } = await t.run("root");
      expect(sorted(unblocked)).toEqual(sorted([graph.a.id, graph.c.id, graph.d.id]));
      expect(await t.status(graph.b.id)).toBe("blocked");
      expect(await t.status(graph.e.id)).toBe("blocked");
    });

    it("restarts a job whose completed dependency retention deleted; refuses one whose failed dependency it keeps for it", async () => {
      const [broken, done] = await t.insert(newJob({ type: "breaks" }), newJob({ type: "completes" }));
      await t.fail((await t.claimOne("breaks")).lease);
      await t.run("completes");
      const [cancelled, other] = await t.insert(newJob({ dependsOn: [broken!.id] }), newJob({ type: "other", dependsOn: [done!.id] }));
      await t.fail((await t.claimOne("other")).lease);
      expect(await t.job(cancelled!.id)).toMatchObject({ status: "cancelled" });
      const future = secondsFromNow(3_600);
      expect(await t.storage.deleteFinishedJobs({ completedBefore: future, limit: 100 })).toBe(1);
      expect(await t.storage.getJobs([done!.id])).toEqual([]);
      expect((await t.storage.retryJob(other!.id, new Date())).job).toMatchObject({ status: "pending", dependsOn: [] });
      // The failed dependency stays while the job it cancelled does.
      expect(await t.storage.deleteFinishedJobs({ failedBefore: future, limit: 100 })).toBe(0);
      const refused = await t.storage.retryJob(cancelled!.id, new Date()).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(InvalidStateError);
      expect(refused).toMatchObject({ code: "INVALID_STATE", dependency: { id: broken!.id, status: "failed" } });
    });

    it("leaves a dependent cancelled while another of its dependencies is still failed", async () => {
      const first = newJob({ type: "first" });
      const second = newJob({ type: "second" });
      const both = newJob({ dependsOn: [first.id, second.id] });
      await t.insert(first, second, both);
      await t.fail((await t.claimOne("first")).lease);
      await t.fail((await t.claimOne("second")).lease);

      expect((await t.storage.retryJob(first.id, new Date())).revived).toEqual([]);
      expect(await t.status(both.id)).toBe("cancelled");
      expect((await t.storage.retryJob(second.id, new Date())).revived).toEqual([both.id]);
      expect(await t.status(both.id)).toBe("blocked");
    });

    it("retries a cancelled job", async () => {
      const [job] = await t.insert(newJob());
      await t.storage.cancelJobs([job!.id], new Date());
      expect((await t.storage.retryJob(job!.id, new Date())).job.status).toBe("pending");
    });

    it("refuses other statuses and unknown ids", async () => {
      const [pending, done] = await t.insert(newJob(), newJob({ type: "done" }));
      await t.run("done");
      const completed: JobRecord = await t.job(done!.id);
      await expect(t.storage.retryJob(completed.id, new Date())).rejects.toBeInstanceOf(InvalidStateError);
      await expect(t.storage.retryJob(pending!.id, new Date())).rejects.toBeInstanceOf(InvalidStateError);
      await expect(t.storage.retryJob(randomUUID(), new Date())).rejects.toBeInstanceOf(JobNotFoundError);
      expect(await t.status(completed.id)).toBe("completed");
    });
  });
}
