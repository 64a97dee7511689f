import { describe, expect, it } from "vitest";
import { DuplicateJobError, UnknownDependencyError, ValidationError } from "../../src/errors.js";
import { planInsert, type KnownJob } from "../../src/insert-plan.js";
import type { JobStatus } from "../../src/types.js";
import { newJob } from "../storage/builders.js";

/** A lookup over `stored` jobs, with `holders` holding idempotency keys. */
function lookup(stored: Record<string, JobStatus> = {}, holders: Record<string, KnownJob> = {}) {
  return {
    stored: (id: string) => (stored[id] === undefined ? undefined : { id, status: stored[id] }),
    liveHolder: (key: string) => holders[key],
  };
}

describe("planInsert", () => {
  it("starts a job pending, blocked by each unfinished dependency, or cancelled by the first broken one", () => {
    const done = "00000000-0000-7000-8000-000000000001";
    const running = "00000000-0000-7000-8000-000000000002";
    const failed = "00000000-0000-7000-8000-000000000003";
    const cancelled = "00000000-0000-7000-8000-000000000004";
    const free = newJob();
    const waiting = newJob({ dependsOn: [done, running, free.id] });
    const doomed = newJob({ dependsOn: [running, failed, cancelled] });
    const plan = planInsert([free, waiting, doomed], "reject", lookup({ [done]: "completed", [running]: "running", [failed]: "failed", [cancelled]: "cancelled" }));
    expect(plan.map((p) => (p.type === "inserted" ? [p.status, p.unfinished, p.cause?.id] : p.type))).toEqual([
      ["pending", 0, undefined],
      ["blocked", 2, undefined],
      ["cancelled", 0, failed],
    ]);
    const last = plan[2];
    expect(last?.type === "inserted" ? last.error : undefined).toMatchObject({ code: "DEPENDENCY_FAILED" });
  });

  it("with return-existing, maps a held key to its holder and points later dependencies at it", () => {
    const holder = { id: "00000000-0000-7000-8000-00000000000a", status: "pending" as const };
    const dup = newJob({ idempotencyKey: "k" });
    const child = newJob({ dependsOn: [dup.id, dup.id] });
    const plan = planInsert([dup, child], "return-existing", lookup({ [holder.id]: "pending" }, { k: holder }));
    expect(plan[0]).toMatchObject({ type: "existing", holder });
    expect(plan[1]).toMatchObject({ type: "inserted", dependsOn: [holder.id], status: "blocked", unfinished: 1 });
  });

  it("treats a key repeated in the batch as held by its first live job, and a key of a job cancelled at once as free", () => {
    const failed = "00000000-0000-7000-8000-000000000003";
    const cancelledAtOnce = newJob({ idempotencyKey: "k", dependsOn: [failed] });
    const first = newJob({ idempotencyKey: "k" });
    const second = newJob({ idempotencyKey: "k" });
    const plan = planInsert([cancelledAtOnce, first, second], "return-existing", lookup({ [failed]: "failed" }));
    expect(plan.map((p) => p.type)).toEqual(["inserted", "inserted", "existing"]);
    expect(plan[2]).toMatchObject({ holder: { id: first.id, status: "pending" } });
    expect(() => planInsert([first, second], "reject", lookup())).toThrow(DuplicateJobError);
  });

  it("refuses an id that exists, an id twice in the batch and an unknown dependency", () => {
    const job = newJob();
    expect(() => planInsert([job], "reject", lookup({ [job.id]: "completed" }))).toThrow(ValidationError);
    expect(() => planInsert([job, { ...job }], "reject", lookup())).toThrow(/already exists/);
    expect(() => planInsert([newJob({ dependsOn: ["00000000-0000-7000-8000-0000000000ff"] })], "reject", lookup())).toThrow(UnknownDependencyError);
  });
});
