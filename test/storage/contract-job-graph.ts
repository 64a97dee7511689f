import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { JobNotFoundError } from "../../src/errors.js";
import { readJobGraph } from "../../src/job-graph.js";
import type { JobId, NewJob } from "../../src/types.js";
import { newJob } from "./builders.js";
import { denseGraph } from "./contract-graph.js";
import type { StoreUnderTest } from "./store-under-test.js";

const ids = (jobs: readonly { id: JobId }[]) => jobs.map((job) => job.id);

/** `length` jobs, each depending on the one before. */
function chain(length: number, type = "chain"): NewJob[] {
  const jobs: NewJob[] = [];
  for (let i = 0; i < length; i++) jobs.push(newJob({ type, dependsOn: i === 0 ? [] : [jobs[i - 1]!.id] }));
  return jobs;
}

/** `getJobGraph` on the store (`readJobGraph` over `walkGraph` and `getJobs`), and `walkGraph` itself. */
export function describeJobGraphContract(t: StoreUnderTest): void {
  describe("job graph", () => {
    it("of a chain: every ancestor and descendant, nearest first, with each edge as [dependent, dependency]", async () => {
      const [a, b, c, d] = chain(4);
      await t.insert(a!, b!, c!, d!);
      const graph = await readJobGraph(t.storage, c!.id);
      expect(ids(graph.jobs)).toEqual([c!.id, b!.id, a!.id, d!.id]);
      expect(graph.edges).toEqual([[c!.id, b!.id], [b!.id, a!.id], [d!.id, c!.id]]);
      expect(graph.truncated).toBe(false);
      expect(graph.jobs[0]).toEqual(await t.job(c!.id));
    });

    it("of a diamond's side: its ancestor and descendant, not the sibling reached through them", async () => {
      const top = newJob();
      const left = newJob({ dependsOn: [top.id] });
      const right = newJob({ dependsOn: [top.id] });
      const bottom = newJob({ dependsOn: [left.id, right.id] });
      await t.insert(top, left, right, bottom);
      const side = await readJobGraph(t.storage, left.id);
      expect(ids(side.jobs)).toEqual([left.id, top.id, bottom.id]);
      expect(side.edges).toEqual([[left.id, top.id], [bottom.id, left.id]]);
      for (const end of [top, bottom]) {
        const whole = await readJobGraph(t.storage, end.id);
        expect(new Set(ids(whole.jobs))).toEqual(new Set([top.id, left.id, right.id, bottom.id]));
        expect(whole.jobs[0]?.id).toBe(end.id);
        expect(whole.edges).toHaveLength(4);
        expect(new Set(whole.edges.map((edge) => edge.join(">")))).toEqual(
          new Set([`${left.id}>${top.id}`, `${right.id}>${top.id}`, `${bottom.id}>${left.id}`, `${bottom.id}>${right.id}`]),
        );
      }
    });

    it("of a job with no dependencies and no dependents: the job alone", async () => {
      const [job] = await t.insert(newJob());
      expect(await readJobGraph(t.storage, job!.id)).toEqual({ jobs: [job], edges: [], truncated: false });
    });

    it("of an unknown job: JobNotFoundError; walkGraph reaches nothing from it", async () => {
      const id = randomUUID();
      await expect(readJobGraph(t.storage, id)).rejects.toBeInstanceOf(JobNotFoundError);
      expect(await t.storage.walkGraph(id, "dependents", 10)).toEqual([]);
      expect(await t.storage.walkGraph(id, "dependencies", 10)).toEqual([]);
    });

    it("walks a dense graph once per job: 200 jobs, each depending on all earlier ones", async () => {
      const jobs = denseGraph(200);
      await t.insert(...jobs);
      const last = jobs.at(-1)!;
      const graph = await readJobGraph(t.storage, last.id);
      expect(graph.jobs).toHaveLength(200);
      expect(graph.edges).toHaveLength((200 * 199) / 2);
      expect(graph.truncated).toBe(false);
      expect(new Set(await t.storage.walkGraph(jobs[0]!.id, "dependents", 1_000))).toEqual(new Set(ids(jobs.slice(1))));
    });

    it("walkGraph stops at its limit, nearest first", async () => {
      const jobs = chain(10);
      await t.insert(...jobs);
      expect(await t.storage.walkGraph(jobs[0]!.id, "dependents", 3)).toEqual(ids(jobs.slice(1, 4)));
      expect(await t.storage.walkGraph(jobs[9]!.id, "dependencies", 2)).toEqual([jobs[8]!.id, jobs[7]!.id]);
    });

    it("bounded by bytes: the nearest jobs of both sides in turns, until the next would pass maxBytes", async () => {
      // Each payload is 1,008 bytes of JSON: two fit in 2,500 bytes, the job itself not counted.
      const jobs = chain(6).map((job) => ({ ...job, payload: { s: "x".repeat(1_000) } }));
      await t.insert(...jobs);
      const graph = await readJobGraph(t.storage, jobs[2]!.id, { maxJobs: 1_000, maxBytes: 2_500 });
      expect(ids(graph.jobs)).toEqual([jobs[2]!.id, jobs[1]!.id, jobs[3]!.id]);
      expect(graph.edges).toEqual([[jobs[2]!.id, jobs[1]!.id], [jobs[3]!.id, jobs[2]!.id]]);
      expect(graph.truncated).toBe(true);
      const roomy = await readJobGraph(t.storage, jobs[2]!.id, { maxJobs: 1_000, maxBytes: 6 * 1_008 });
      expect(roomy).toMatchObject({ truncated: false });
      expect(roomy.jobs).toHaveLength(6);
    });

    it("of a job in a 1,200-job chain: 1,000 jobs, truncated, the short side whole and the long side nearest first", async () => {
      const jobs = chain(1_200);
      await t.insert(...jobs);
      const graph = await readJobGraph(t.storage, jobs[100]!.id);
      expect(graph.truncated).toBe(true);
      expect(graph.jobs).toHaveLength(1_000);
      // All 100 ancestors, then the 899 nearest descendants.
      const expected = [jobs[100]!, ...jobs.slice(0, 100).reverse(), ...jobs.slice(101, 1_000)];
      expect(ids(graph.jobs)).toEqual(ids(expected));
      expect(graph.edges).toHaveLength(999);
      const middle = await readJobGraph(t.storage, jobs[600]!.id);
      expect(middle.jobs).toHaveLength(1_000);
      // 600 ancestors and 599 descendants share 999 places: 499 and 500.
      expect(ids(middle.jobs)).toEqual(ids([jobs[600]!, ...jobs.slice(101, 600).reverse(), ...jobs.slice(601, 1_101)]));
    });
  });
}
