import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DuplicateJobError, UnknownDependencyError } from "../../src/errors.js";
import type { Storage } from "../../src/storage/storage.js";
import type { JobId } from "../../src/types.js";
import { attemptError, newJob, secondsFromNow } from "./builders.js";
import { describeBulkInsertContract } from "./contract-bulk.js";
import { describeGraphContract } from "./contract-graph.js";
import { describeHistoryContract } from "./contract-history.js";
import { describeJobGraphContract } from "./contract-job-graph.js";
import { describeLifecycleContract } from "./contract-lifecycle.js";
import { describeReadContract } from "./contract-reads.js";
import { describeRedriveContract } from "./contract-redrive.js";
import { describeRetentionContract } from "./contract-retention.js";
import { describeScheduleContract } from "./contract-schedules.js";
import { StoreUnderTest } from "./store-under-test.js";

/** A fresh store for one test, and how to get rid of it. The suite calls `setup()` and `close()` itself. */
export interface StorageFixture {
  storage: Storage;
  cleanup(): Promise<void>;
}

/**
 * The behaviour every `Storage` must have. Tests use real time, because PostgreSQL judges runAt and
 * lease expiry by the database clock, and wait for facts rather than for fixed delays.
 */
export function describeStorageContract(name: string, makeStorage: () => Promise<StorageFixture>): void {
  describe(`storage contract: ${name}`, () => {
    const t = new StoreUnderTest();
    let fixture: StorageFixture | undefined;

    beforeEach(async () => {
      fixture = await makeStorage();
      t.storage = fixture.storage;
      await t.storage.setup();
    });

    afterEach(async () => {
      try {
        await fixture?.storage.close();
      } finally {
        await fixture?.cleanup();
        fixture = undefined;
      }
    });

    describeInsertContract(t);
    describeBulkInsertContract(t);
    describeClaimContract(t);
    describeLifecycleContract(t);
    describeGraphContract(t);
    describeReadContract(t);
    describeRetentionContract(t);
    describeJobGraphContract(t);
    describeRedriveContract(t);
    describeScheduleContract(t);
    describeHistoryContract(t);
  });
}

function describeInsertContract(t: StoreUnderTest): void {
  describe("insertJobs", () => {
    it("stores a job without dependencies as pending, as given", async () => {
      const input = newJob({ priority: "high", payload: { n: 1, tags: ["a"] }, idempotencyKey: "k-1", resources: { cpu: 1 }, timeoutMs: 5_000 });
      const [job] = await t.insert(input);
      expect(job).toMatchObject({
        id: input.id, type: input.type, status: "pending", priority: "high", payload: { n: 1, tags: ["a"] }, attempt: 0,
        maxAttempts: 3, backoff: input.backoff, dependsOn: [], idempotencyKey: "k-1", resources: { cpu: 1 }, timeoutMs: 5_000,
        result: undefined, error: undefined, startedAt: undefined, finishedAt: undefined,
      });
      expect(job?.runAt.getTime()).toBe(input.runAt.getTime());
      expect(job?.createdAt).toBeInstanceOf(Date);
      expect(await t.job(input.id)).toEqual(job);
    });

    it("starts a job blocked while a dependency is unfinished, pending once all are completed", async () => {
      const [a] = await t.insert(newJob({ type: "a" }));
      const [blocked] = await t.insert(newJob({ dependsOn: [a!.id] }));
      expect(blocked?.status).toBe("blocked");
      await t.run("a");
      const [ready] = await t.insert(newJob({ dependsOn: [a!.id] }));
      expect(ready?.status).toBe("pending");
    });

    it("cancels a job at once when a dependency already failed or was cancelled", async () => {
      const [failing, cancelled] = await t.insert(newJob({ type: "failing" }), newJob({ type: "other" }));
      await t.fail((await t.claimOne("failing")).lease);
      await t.storage.cancelJobs([cancelled!.id], new Date());
      for (const dependency of [failing!, cancelled!]) {
        const [job] = await t.insert(newJob({ dependsOn: [dependency.id] }));
        expect(job?.status).toBe("cancelled");
        expect(job?.error).toMatchObject({ name: "DependencyFailedError", code: "DEPENDENCY_FAILED" });
        expect(job?.error?.message).toContain(dependency.id);
      }
    });

    it("inserts a graph in one batch, edges within the batch included, results in input order", async () => {
      const a = newJob();
      const b = newJob({ dependsOn: [a.id] });
      const c = newJob({ dependsOn: [a.id, b.id] });
      const { jobs } = await t.insertBatch([a, b, c]);
      expect(jobs.map((r) => [r.type, r.job.id, r.job.status])).toEqual([
        ["inserted", a.id, "pending"], ["inserted", b.id, "blocked"], ["inserted", c.id, "blocked"],
      ]);
      expect((await t.job(c.id)).dependsOn.slice().sort()).toEqual([a.id, b.id].sort());
    });

    it("rejects a batch with an unknown dependency and changes nothing", async () => {
      await t.insert(newJob());
      const before = await t.storage.countJobs();
      const a = newJob();
      const missing = randomUUID();
      await expect(t.insertBatch([a, newJob({ dependsOn: [a.id, missing] })])).rejects.toBeInstanceOf(UnknownDependencyError);
      expect(await t.storage.countJobs()).toEqual(before);
      expect(await t.storage.getJob(a.id)).toBeUndefined();
    });

    it("rejects a batch when a live job holds a key, naming that job, and changes nothing", async () => {
      const [holder] = await t.insert(newJob({ type: "held", idempotencyKey: "k" }));
      const before = await t.storage.countJobs();
      const first = newJob();
      const error = await t.insertBatch([first, newJob({ idempotencyKey: "k" })]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DuplicateJobError);
      expect(error).toMatchObject({ code: "DUPLICATE_JOB", existingJobId: holder!.id, existingStatus: "pending" });
      expect(await t.storage.countJobs()).toEqual(before);
      expect(await t.storage.getJob(first.id)).toBeUndefined();

      await t.claimOne("held");
      await expect(t.insert(newJob({ idempotencyKey: "k" }))).rejects.toMatchObject({ existingJobId: holder!.id, existingStatus: "running" });
    });

    it("treats a repeated key within one batch as a duplicate of the first", async () => {
      const first = newJob({ idempotencyKey: "k" });
      await expect(t.insertBatch([first, newJob({ idempotencyKey: "k" })])).rejects.toMatchObject({ code: "DUPLICATE_JOB", existingJobId: first.id });
      expect(await t.totalJobs()).toBe(0);

      const { jobs } = await t.insertBatch([first, newJob({ idempotencyKey: "k" })], "return-existing");
      expect(jobs.map((r) => [r.type, r.job.id])).toEqual([["inserted", first.id], ["existing", first.id]]);
      expect(await t.totalJobs()).toBe(1);
    });

    it("with return-existing, maps a duplicate to the live job and points later edges at it", async () => {
      const [existing] = await t.insert(newJob({ type: "existing", idempotencyKey: "k" }));
      const duplicate = newJob({ idempotencyKey: "k" });
      const dependent = newJob({ type: "dependent", dependsOn: [duplicate.id] });
      const { jobs } = await t.insertBatch([duplicate, dependent], "return-existing");
      expect(jobs[0]).toMatchObject({ type: "existing", job: { id: existing!.id, status: "pending" } });
      expect(jobs[1]).toMatchObject({ type: "inserted", job: { id: dependent.id, status: "blocked", dependsOn: [existing!.id] } });
      expect(await t.storage.getJob(duplicate.id)).toBeUndefined();

      const { unblocked } = await t.run("existing");
      expect(unblocked).toEqual([dependent.id]);
      expect(await t.status(dependent.id)).toBe("pending");
    });

    it("frees a key once its holder is terminal", async () => {
      await t.insert(newJob({ type: "first", idempotencyKey: "k" }));
      await t.run("first");
      const [second] = await t.insert(newJob({ idempotencyKey: "k" }));
      expect(second?.status).toBe("pending");
      await t.storage.cancelJobs([second!.id], new Date());
      const { jobs } = await t.insertBatch([newJob({ idempotencyKey: "k" })], "return-existing");
      expect(jobs[0]?.type).toBe("inserted");
    });
  });
}

function describeClaimContract(t: StoreUnderTest): void {
  describe("claimJobs", () => {
    it("leases runnable jobs of the requested types only, up to the limit", async () => {
      const a = [newJob({ type: "a" }), newJob({ type: "a" }), newJob({ type: "a" })];
      const later = newJob({ type: "a", runAt: secondsFromNow(3_600) });
      const b = newJob({ type: "b" });
      await t.insert(...a, later, b);

      const first = await t.claim(["a"], { limit: 2 });
      expect(first.claimed).toHaveLength(2);
      const [claimed] = first.claimed;
      expect(claimed?.job).toMatchObject({ type: "a", status: "running", attempt: 1 });
      expect(claimed?.job.startedAt).toBeInstanceOf(Date);
      expect(claimed?.lease).toMatchObject({ jobId: claimed?.job.id, attempt: 1 });
      expect(claimed?.lease.token).toEqual(expect.any(String));

      const rest = await t.claim(["a"]);
      const ids = [...first.claimed, ...rest.claimed].map((c) => c.job.id);
      expect(ids.slice().sort()).toEqual(a.map((j) => j.id).sort());
      expect(await t.status(later.id)).toBe("pending");
      expect(await t.status(b.id)).toBe("pending");
      expect((await t.claim(["c"])).claimed).toEqual([]);
    });

    for (const resources of [{}, { cpu: 1 }]) {
      it(`says how long until the earliest job of its types not yet due, when it leased fewer than it asked for (${Object.keys(resources).length === 0 ? "no resources" : "resources"})`, async () => {
        const capacity = { free: { cpu: 4 }, capacity: { cpu: 4 } };
        await t.insert(
          newJob({ type: "a", resources, runAt: secondsFromNow(-1) }),
          newJob({ type: "a", resources, runAt: secondsFromNow(-1) }),
          newJob({ type: "a", resources, priority: "low", runAt: secondsFromNow(600) }),
          newJob({ type: "a", resources, priority: "critical", runAt: secondsFromNow(300) }),
          newJob({ type: "b", resources, runAt: secondsFromNow(60) }),
        );
        // It filled its limit: the next claim comes soon anyway, and need not be told.
        const full = await t.claim(["a"], { limit: 1, ...capacity });
        expect(full.claimed).toHaveLength(1);
        expect(full.nextDueInMs).toBeUndefined();
        // Fewer than asked: the job of type a due in 300 s (not b's, due sooner), by the store's clock.
        const short = await t.claim(["a"], { limit: 5, ...capacity });
        expect(short.claimed).toHaveLength(1);
        expect(short.nextDueInMs).toBeGreaterThan(290_000);
        expect(short.nextDueInMs).toBeLessThanOrEqual(300_000);
        const none = await t.claim(["a"], { limit: 5, ...capacity });
        expect(none.claimed).toEqual([]);
        expect(none.nextDueInMs).toBeGreaterThan(290_000);
        expect((await t.claim(["c"], { limit: 5, ...capacity })).nextDueInMs).toBeUndefined();
      });
    }

    it("takes critical before low, FIFO within a level", async () => {
      const runAt = secondsFromNow(-1);
      const jobs = (["low", "normal", "critical", "low", "critical"] as const).map((priority) => newJob({ priority, runAt }));
      for (const job of jobs) await t.insert(job);
      const order: JobId[] = [];
      for (let i = 0; i < jobs.length; i++) order.push((await t.claimOne("test.job", { limit: 1 })).job.id);
      expect(order).toEqual([2, 4, 1, 0, 3].map((i) => jobs[i]!.id));
    });

    it("answers one claim's jobs in the order they were chosen: effective level, then run time, then creation", async () => {
      const [a, b, c, d, e, f] = await t.insert(
        newJob({ priority: "critical", runAt: secondsFromNow(-1) }),
        newJob({ priority: "low", runAt: secondsFromNow(-1) }),
        newJob({ priority: "normal", runAt: secondsFromNow(-5) }),
        newJob({ priority: "normal", runAt: secondsFromNow(-2) }),
        // Waiting 130 s with a 60 s guard: two levels up, from low to high.
        newJob({ priority: "low", runAt: secondsFromNow(-130) }),
        newJob({ priority: "critical", runAt: secondsFromNow(-3) }),
      );
      const { claimed } = await t.claim(["test.job"], { limit: 10, starvationMs: 60_000 });
      expect(claimed.map((x) => x.job.id)).toEqual([f, a, e, c, d, b].map((job) => job!.id));
    });

    it("claims only what fits the free resources and reports jobs bigger than the capacity", async () => {
      const runAt = secondsFromNow(-1);
      const [two, one, huge] = await t.insert(
        newJob({ resources: { cpu: 2 }, runAt }), newJob({ resources: { cpu: 1 }, runAt }), newJob({ resources: { cpu: 8 }, runAt }),
      );
      const result = await t.claim(["test.job"], { free: { cpu: 2 }, capacity: { cpu: 4 } });
      expect(result.claimed.map((c) => c.job.id)).toEqual([two!.id]);
      expect(result.unschedulable).toEqual([huge!.id]);
      expect(await t.status(one!.id)).toBe("pending");
      expect(await t.status(huge!.id)).toBe("pending");
    });

    it("lets a smaller job backfill capacity a bigger one cannot use yet", async () => {
      const runAt = secondsFromNow(-1);
      const [big, small] = await t.insert(newJob({ resources: { cpu: 4 }, runAt }), newJob({ resources: { cpu: 1 }, runAt }));
      const result = await t.claim(["test.job"], { free: { cpu: 2 }, capacity: { cpu: 4 } });
      expect(result.claimed.map((c) => c.job.id)).toEqual([small!.id]);
      expect(await t.status(big!.id)).toBe("pending");
    });

    it("lets a job waiting longer than starvationMs reserve what it needs", async () => {
      const [big] = await t.insert(newJob({ resources: { cpu: 4 }, runAt: secondsFromNow(-600) }));
      await t.insert(newJob({ resources: { cpu: 1 }, runAt: secondsFromNow(-1) }));
      const starved = await t.claim(["test.job"], { free: { cpu: 2 }, capacity: { cpu: 4 }, starvationMs: 60_000 });
      expect(starved.claimed).toEqual([]);
      const freed = await t.claim(["test.job"], { free: { cpu: 4 }, capacity: { cpu: 4 }, starvationMs: 60_000, limit: 1 });
      expect(freed.claimed.map((c) => c.job.id)).toEqual([big!.id]);
    });

    it("answers each claimed job's record as a read returns it while the job runs, on any attempt, with or without resources", async () => {
      const [dependency] = await t.insert(newJob({ type: "first" }));
      await t.run("first");
      const [plain, sized] = await t.insert(
        newJob({ type: "rec", payload: { a: [1] }, dependsOn: [dependency!.id], idempotencyKey: "claimed-record", timeoutMs: 5_000 }),
        newJob({ type: "sized", resources: { cpu: 1 } }),
      );
      const first = await t.claimOne("rec");
      expect(first.job).toEqual(await t.job(plain!.id));
      await t.settled(first.lease, { type: "retry", error: attemptError(), runAt: secondsFromNow(-1) });
      const second = await t.claimOne("rec");
      expect(second.job).toMatchObject({ attempt: 2, error: attemptError() });
      expect(second.job.attempts).toHaveLength(2);
      expect(second.job).toEqual(await t.job(plain!.id));
      const admitted = await t.claimOne("sized", { free: { cpu: 1 }, capacity: { cpu: 1 } });
      expect(admitted.job).toEqual(await t.job(sized!.id));
    });

    it("never hands the same job to two concurrent claims", async () => {
      await t.insert(...Array.from({ length: 20 }, () => newJob()));
      const [first, second] = await Promise.all([t.claim(["test.job"]), t.claim(["test.job"])]);
      const ids = [...first.claimed, ...second.claimed].map((c) => c.job.id);
      expect(ids.length).toBeGreaterThan(0);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBeLessThanOrEqual(20);
    });

    it("claims a job that has waited since 1970 with a short starvationMs (its promotion is capped, not overflowed)", async () => {
      const [old] = await t.insert(newJob({ runAt: new Date(0) }));
      const { claimed } = await t.claim(["test.job"], { starvationMs: 500 });
      expect(claimed.map((c) => c.job.id)).toEqual([old!.id]);
    });

    it("admits a fitting job queued behind more jobs bigger than the whole capacity than a claim looks at", async () => {
      const runAt = secondsFromNow(-10);
      // A claim of 1 looks at some 20 candidates per level: these 25 would fill the window.
      const huge = await t.insert(...Array.from({ length: 25 }, () => newJob({ resources: { gpu: 5 }, runAt })));
      const [small] = await t.insert(newJob({ resources: {}, runAt: secondsFromNow(-1) }));
      const result = await t.claim(["test.job"], { limit: 1, free: { gpu: 1 }, capacity: { gpu: 1 } });
      expect(result.claimed.map((c) => c.job.id)).toEqual([small!.id]);
      // Reported unschedulable, as many as the claim looked at.
      expect(result.unschedulable.length).toBeGreaterThan(0);
      expect(result.unschedulable.every((id) => huge.some((job) => job.id === id))).toBe(true);
    });
  });
}
