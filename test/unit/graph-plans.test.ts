import { describe, expect, it } from "vitest";
import { planCascade, type CascadeJob } from "../../src/cascade.js";
import { InvalidStateError } from "../../src/errors.js";
import { planRestart } from "../../src/restart.js";
import { planRevival } from "../../src/revival.js";
import type { JobId, JobStatus } from "../../src/types.js";

/** A graph as the planners read it: jobs by id with their dependencies, and the dependents index. */
function graph(jobs: Record<JobId, { status: JobStatus; dependsOn?: JobId[] }>) {
  const byId = new Map<JobId, CascadeJob>();
  const dependents = new Map<JobId, JobId[]>();
  Object.entries(jobs).forEach(([id, job], seq) => {
    byId.set(id, { status: job.status, seq, dependsOn: job.dependsOn ?? [] });
    for (const dependency of job.dependsOn ?? []) dependents.set(dependency, [...(dependents.get(dependency) ?? []), id]);
  });
  return { lookup: (id: JobId) => byId.get(id), dependentsOf: (id: JobId) => dependents.get(id) ?? [] };
}

describe("planCascade", () => {
  it("cancels waiting dependents only, nearest first, each blamed on its nearest broken dependency and its root", () => {
    const g = graph({
      r1: { status: "failed" },
      r2: { status: "cancelled" },
      a: { status: "blocked", dependsOn: ["r1"] },
      b: { status: "blocked", dependsOn: ["a", "r2"] },
      running: { status: "running", dependsOn: ["r1"] },
      below: { status: "blocked", dependsOn: ["running"] },
      c: { status: "pending", dependsOn: ["b"] },
    });
    const victims = planCascade([{ id: "r1", status: "failed" }, { id: "r2", status: "cancelled" }], g.dependentsOf, g.lookup);
    expect(victims).toEqual([
      { id: "a", cause: "r1", causeStatus: "failed", root: "r1", depth: 1 },
      { id: "b", cause: "r2", causeStatus: "cancelled", root: "r2", depth: 1 },
      { id: "c", cause: "b", causeStatus: "cancelled", root: "r2", depth: 2 },
    ]);
  });

  it("visits a dense graph's jobs once each", () => {
    const jobs: Record<JobId, { status: JobStatus; dependsOn: JobId[] }> = {};
    const ids: JobId[] = [];
    for (let i = 0; i < 300; i++) {
      jobs[`j${i}`] = { status: i === 0 ? "failed" : "blocked", dependsOn: [...ids] };
      ids.push(`j${i}`);
    }
    const g = graph(jobs);
    let lookups = 0;
    const victims = planCascade([{ id: "j0", status: "failed" }], g.dependentsOf, (id) => (lookups++, g.lookup(id)));
    expect(victims).toHaveLength(299);
    expect(victims.every((v) => v.cause === "j0" && v.depth === 1)).toBe(true);
    expect(lookups).toBe(299);
  });
});

describe("planRestart", () => {
  const statuses: Record<JobId, JobStatus> = { done: "completed", waiting: "pending", broken: "failed", stopped: "cancelled" };
  const statusOf = (id: JobId) => statuses[id];

  it("is pending when every dependency completed (or was deleted after it completed)", () => {
    expect(planRestart({ id: "x", status: "failed", dependsOn: ["done", "gone"] }, statusOf)).toEqual({ status: "pending" });
  });

  it("is blocked while some dependency has not completed, counting them", () => {
    expect(planRestart({ id: "x", status: "cancelled", dependsOn: ["done", "waiting"] }, statusOf)).toEqual({ status: "blocked", unfinished: 1 });
  });

  it.each(["broken", "stopped"])("is refused while a dependency is failed or cancelled, naming it (%s)", (dependency) => {
    const attempt = () => planRestart({ id: "x", status: "cancelled", dependsOn: ["done", dependency] }, statusOf);
    expect(attempt).toThrow(InvalidStateError);
    expect(attempt).toThrow(dependency);
  });

  it("is refused for a job cancelled by a dependency that no longer exists, naming it as deleted", () => {
    const attempt = () => planRestart({ id: "x", status: "cancelled", dependsOn: ["done"], cancelCause: "gone" }, statusOf);
    expect(attempt).toThrow(InvalidStateError);
    expect(attempt).toThrow(/gone, which cancelled it, was deleted/);
  });

  it.each(["pending", "running", "completed"] as const)("refuses a %s job", (status) => {
    expect(() => planRestart({ id: "x", status, dependsOn: [] }, statusOf)).toThrow(InvalidStateError);
  });
});

describe("planRevival", () => {
  const statuses: Record<JobId, JobStatus> = { done: "completed", waiting: "pending" };
  const statusOf = (id: JobId) => statuses[id];

  it("counts a revived job's unfinished dependencies: the retried root and any not completed, not one deleted meanwhile", () => {
    const cascaded = [
      { id: "a", cancelCause: "root", dependsOn: ["root", "done", "gone"] },
      { id: "b", cancelCause: "a", dependsOn: ["a", "waiting", "gone"] },
    ];
    expect(planRevival("root", cascaded, statusOf)).toEqual({
      revive: [{ id: "a", unfinished: 1 }, { id: "b", unfinished: 2 }],
      reattributed: [],
    });
  });
});
