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
}
