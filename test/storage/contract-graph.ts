import { describe, expect, it } from "vitest";
import { InvalidStateError } from "../../src/errors.js";
import type { JobId, NewJob } from "../../src/types.js";
import { newJob } from "./builders.js";
import type { StoreUnderTest } from "./store-under-test.js";

const sorted = (ids: readonly JobId[]) => [...ids].sort();

/** `size` jobs where job i depends on every earlier job: about size^2/2 edges, and a path for every subset. */
export function denseGraph(size: number, type = "dense"): NewJob[] {
  const jobs: NewJob[] = [];
  for (let i = 0; i < size; i++) jobs.push(newJob({ type: i === 0 ? `${type}.root` : type, dependsOn: jobs.map((job) => job.id) }));
  return jobs;
}

/** Cascades through large graphs, and what `retryJob` does about a job's dependencies. */
export function describeGraphContract(t: StoreUnderTest): void {
  describe("cascades through a dense graph", () => {
    // Each job is visited once: a walk along paths would take minutes here, and the test times out.
    it("cancelling the root of 200 jobs, each depending on all earlier ones, cancels every dependent, blamed on the root", async () => {
      const [root, ...dependents] = denseGraph(200);
      await t.insert(root!, ...dependents);
      const result = await t.storage.cancelJobs([root!.id], new Date());
      expect(sorted(result.cancelled)).toEqual(sorted([root!.id, ...dependents.map((job) => job.id)]));
      const stored = await t.storage.getJobs(dependents.map((job) => job.id));
      expect(stored).toHaveLength(dependents.length);
      for (const job of stored) {
        expect(job).toMatchObject({
          status: "cancelled",
          error: { name: "DependencyFailedError", message: `dependency ${root!.id} cancelled`, code: "DEPENDENCY_FAILED" },
        });
      }
    });

    it("a failed settle of the root of 200 such jobs cancels every dependent, blamed on the failure", async () => {
      const [root, ...dependents] = denseGraph(200);
      await t.insert(root!, ...dependents);
      const result = await t.fail((await t.claimOne("dense.root")).lease);
      expect(sorted(result.cancelled)).toEqual(sorted(dependents.map((job) => job.id)));
      for (const job of await t.storage.getJobs(dependents.map((d) => d.id))) {
        expect(job).toMatchObject({ status: "cancelled", error: { message: `dependency ${root!.id} failed`, code: "DEPENDENCY_FAILED" } });
      }
      // The revival walks the same graph once too.
      expect(sorted((await t.storage.retryJob(root!.id, new Date())).revived)).toEqual(sorted(dependents.map((job) => job.id)));
    });

    it("failing the head of a 1,000-job chain cancels every job of it, each blamed on the one before", async () => {
      const chain: NewJob[] = [];
      for (let i = 0; i < 1_000; i++) chain.push(newJob({ type: i === 0 ? "chain.head" : "chain", dependsOn: i === 0 ? [] : [chain[i - 1]!.id] }));
      await t.insert(...chain);
      // Enough other edges that a walk scanning all of them at every step would take minutes.
      for (let round = 0; round < 3; round++) await t.insert(...denseGraph(200));
      const result = await t.fail((await t.claimOne("chain.head")).lease);
      expect(result.cancelled).toHaveLength(999);
      const stored = new Map((await t.storage.getJobs(chain.map((job) => job.id))).map((job) => [job.id, job]));
      for (let i = 1; i < chain.length; i++) {
        expect(stored.get(chain[i]!.id)?.error?.message).toBe(`dependency ${chain[i - 1]!.id} ${i === 1 ? "failed" : "cancelled"}`);
      }
    });

    it("blames each victim on its nearest broken dependency, the first listed among equals", async () => {
      const root = newJob({ type: "root" });
      const a = newJob({ dependsOn: [root.id] });
      const b = newJob({ dependsOn: [a.id] });
      const far = newJob({ dependsOn: [b.id, a.id] }); // a is nearer than b
      const near = newJob({ dependsOn: [b.id, a.id, root.id] }); // the root itself is nearest
      const sibling = newJob({ dependsOn: [root.id] });
      const tie = newJob({ dependsOn: [sibling.id, a.id] }); // both one step from the root: the first listed
      await t.insert(root, a, b, far, near, sibling, tie);
      await t.fail((await t.claimOne("root")).lease);
      const blame = async (id: JobId) => (await t.job(id)).error?.message;
      expect(await blame(a.id)).toBe(`dependency ${root.id} failed`);
      expect(await blame(b.id)).toBe(`dependency ${a.id} cancelled`);
      expect(await blame(far.id)).toBe(`dependency ${a.id} cancelled`);
      expect(await blame(near.id)).toBe(`dependency ${root.id} failed`);
      expect(await blame(tie.id)).toBe(`dependency ${sibling.id} cancelled`);
    });
  });

  describe("retryJob never runs a job before its dependencies", () => {
    it("a cancelled job whose dependency has not completed goes back to blocked, and runs only after it", async () => {
      const parent = newJob({ type: "parent" });
      const child = newJob({ type: "child", dependsOn: [parent.id] });
      await t.insert(parent, child);
      await t.storage.cancelJobs([child.id], new Date());

      const { job, revived } = await t.storage.retryJob(child.id, new Date());
      expect(job).toMatchObject({ id: child.id, status: "blocked", attempt: 0, error: undefined, finishedAt: undefined });
      expect(revived).toEqual([]);
      expect((await t.claim(["child"])).claimed).toEqual([]);

      expect((await t.run("parent", "p")).unblocked).toEqual([child.id]);
      expect((await t.claimOne("child")).job).toMatchObject({ id: child.id, attempt: 1 });
    });

    it("counts only the dependencies not completed yet", async () => {
      const done = newJob({ type: "done" });
      const waiting = newJob({ type: "waiting" });
      const child = newJob({ type: "child", dependsOn: [done.id, waiting.id] });
      await t.insert(done, waiting, child);
      await t.run("done");
      await t.storage.cancelJobs([child.id], new Date());
      expect((await t.storage.retryJob(child.id, new Date())).job.status).toBe("blocked");
      expect((await t.run("waiting")).unblocked).toEqual([child.id]);
      expect(await t.status(child.id)).toBe("pending");
    });

    it("a job whose dependencies all completed is pending at once", async () => {
      const parent = newJob({ type: "parent" });
      const child = newJob({ type: "child", dependsOn: [parent.id] });
      await t.insert(parent, child);
      await t.run("parent");
      await t.storage.cancelJobs([child.id], new Date());
      expect((await t.storage.retryJob(child.id, new Date())).job.status).toBe("pending");
      expect((await t.claimOne("child")).job.id).toBe(child.id);
    });

    it.each(["failed", "cancelled"] as const)("is refused while a dependency is %s, naming it; retrying that dependency brings the job back", async (status) => {
      const other = newJob({ type: "other" });
      const parent = newJob({ type: "parent" });
      const child = newJob({ type: "child", dependsOn: [other.id, parent.id] });
      await t.insert(other, parent, child);
      await t.run("other");
      if (status === "failed") await t.fail((await t.claimOne("parent")).lease);
      else await t.storage.cancelJobs([parent.id], new Date());
      expect(await t.status(child.id)).toBe("cancelled");

      const refused = await t.storage.retryJob(child.id, new Date()).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(InvalidStateError);
      expect(refused).toMatchObject({ code: "INVALID_STATE", jobId: child.id, dependency: { id: parent.id, status } });
      expect((refused as Error).message).toContain(parent.id);
      expect(await t.job(child.id)).toMatchObject({ status: "cancelled", error: { code: "DEPENDENCY_FAILED" } });
      expect((await t.claim(["child"])).claimed).toEqual([]);

      expect((await t.storage.retryJob(parent.id, new Date())).revived).toEqual([child.id]);
      expect(await t.status(child.id)).toBe("blocked");
    });
  });
}
