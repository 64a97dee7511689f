import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { admitJobs, effectivePriority, fits, inUse, release, reserve } from "../../src/resources.js";
import type { AdmissionCandidate, AdmissionRequest } from "../../src/resources.js";
import type { Priority, Resources } from "../../src/types.js";

const NOW = new Date(Date.UTC(2030, 0, 1, 12));
const STARVATION_MS = 60_000;

function ago(ms: number): Date {
  return new Date(NOW.getTime() - ms);
}

describe("effectivePriority", () => {
  it.each<{ priority: Priority; waitedMs: number; level: number }>([
    { priority: "low", waitedMs: 0, level: 3 },
    { priority: "low", waitedMs: STARVATION_MS - 1, level: 3 },
    { priority: "low", waitedMs: STARVATION_MS, level: 2 },
    { priority: "low", waitedMs: 2 * STARVATION_MS - 1, level: 2 },
    { priority: "low", waitedMs: 2 * STARVATION_MS, level: 1 },
    { priority: "low", waitedMs: 3 * STARVATION_MS, level: 0 },
    { priority: "low", waitedMs: 100 * STARVATION_MS, level: 0 },
    { priority: "normal", waitedMs: 0, level: 2 },
    { priority: "normal", waitedMs: STARVATION_MS + 1, level: 1 },
    { priority: "high", waitedMs: 0, level: 1 },
    { priority: "high", waitedMs: 5 * STARVATION_MS, level: 0 },
    { priority: "critical", waitedMs: 0, level: 0 },
    { priority: "critical", waitedMs: 10 * STARVATION_MS, level: 0 },
    { priority: "low", waitedMs: -10 * STARVATION_MS, level: 3 }, // runAt in the future
    { priority: "critical", waitedMs: -1, level: 0 },
  ])("$priority after $waitedMs ms -> level $level", ({ priority, waitedMs, level }) => {
    expect(effectivePriority(priority, ago(waitedMs), NOW, STARVATION_MS)).toBe(level);
  });

  it("does not promote when the starvation guard is off (starvationMs <= 0)", () => {
    expect(effectivePriority("low", ago(1e9), NOW, 0)).toBe(3);
  });
});

describe("fits", () => {
  it.each<{ need: Resources; free: Resources; result: boolean }>([
    { need: {}, free: {}, result: true },
    { need: {}, free: { cpu: 0 }, result: true },
    { need: { cpu: 1 }, free: { cpu: 1 }, result: true },
    { need: { cpu: 1 }, free: { cpu: 0.5 }, result: false },
    { need: { cpu: 2, memoryMb: 512 }, free: { cpu: 4, memoryMb: 512 }, result: true },
    { need: { cpu: 2, memoryMb: 513 }, free: { cpu: 4, memoryMb: 512 }, result: false },
    { need: { gpu: 1 }, free: { cpu: 4 }, result: false }, // a unit the free set lacks
    { need: { gpu: 0 }, free: { cpu: 4 }, result: true }, // needing zero of it is needing nothing
    { need: { cpu: 1 }, free: { cpu: -2 }, result: false }, // capacity held back by a reservation
    // Amounts beyond counting in millionths (above about 1.8e302 both would count as Infinity).
    { need: { cpu: 1e305 }, free: { cpu: 1e303 }, result: false },
    { need: { cpu: 1e303 }, free: { cpu: 1e305 }, result: true },
    { need: { cpu: 1e300 }, free: { cpu: 1e305 }, result: true },
    { need: { cpu: Number.MAX_VALUE }, free: { cpu: 1e308 }, result: false },
  ])("$need into $free -> $result", ({ need, free, result }) => {
    expect(fits(need, free)).toBe(result);
  });
});

describe("reserve and release", () => {
  it("subtract and add back unit by unit, leaving other units alone", () => {
    const free = { cpu: 4, memoryMb: 1_024 };
    const reserved = reserve(free, { cpu: 1.5 });
    expect(reserved).toEqual({ cpu: 2.5, memoryMb: 1_024 });
    expect(release(reserved, { cpu: 1.5 })).toEqual(free);
  });

  it("do not mutate their inputs", () => {
    const free = { cpu: 4 };
    const need = { cpu: 1 };
    reserve(free, need);
    release(free, need);
    expect(free).toEqual({ cpu: 4 });
    expect(need).toEqual({ cpu: 1 });
  });

  it("may go below zero (a reservation held for a starving job)", () => {
    expect(reserve({ cpu: 1 }, { cpu: 3 })).toEqual({ cpu: -2 });
  });

  it("round-trip through several jobs", () => {
    const capacity = { cpu: 8, memoryMb: 4_096 };
    const jobs = [{ cpu: 1, memoryMb: 256 }, { cpu: 2 }, { memoryMb: 1_024 }, {}];
    let free: Resources = capacity;
    for (const need of jobs) free = reserve(free, need);
    expect(free).toEqual({ cpu: 5, memoryMb: 2_816 });
    for (const need of jobs) free = release(free, need);
    expect(free).toEqual(capacity);
  });
});

describe("admitJobs", () => {
  interface Spec {
    readonly id: string;
    readonly priority?: Priority;
    readonly waitedMs?: number;
    readonly seq?: number;
    readonly resources?: Resources;
  }
  interface Case {
    readonly name: string;
    readonly candidates: readonly Spec[];
    readonly request?: Partial<Omit<AdmissionRequest, "now" | "starvationMs">>;
    readonly admitted: readonly string[];
    readonly unschedulable?: readonly string[];
  }

  /** Candidates default to normal priority, 1 s of waiting, and `seq` in list order. */
  function candidates(specs: readonly Spec[]): AdmissionCandidate[] {
    return specs.map((spec, index) => ({
      id: spec.id,
      priority: spec.priority ?? "normal",
      runAt: ago(spec.waitedMs ?? 1_000),
      seq: spec.seq ?? index,
      resources: spec.resources ?? {},
    }));
  }

  const capacity = { cpu: 4, memoryMb: 1_024 };
  const starving = STARVATION_MS + 1;

  it.each<Case>([
    {
      name: "strict priority order between levels",
      candidates: [
        { id: "low", priority: "low" },
        { id: "critical", priority: "critical" },
        { id: "normal", priority: "normal" },
        { id: "high", priority: "high" },
      ],
      admitted: ["critical", "high", "normal", "low"],
    },
    {
      name: "FIFO within a level: earlier runAt first",
      candidates: [
        { id: "newest", waitedMs: 10 },
        { id: "oldest", waitedMs: 30 },
        { id: "middle", waitedMs: 20 },
      ],
      admitted: ["oldest", "middle", "newest"],
    },
    {
      name: "FIFO within a level: seq breaks runAt ties",
      candidates: [
        { id: "seq7", waitedMs: 20, seq: 7 },
        { id: "seq3", waitedMs: 20, seq: 3 },
        { id: "seq5-earlier", waitedMs: 30, seq: 5 },
        { id: "seq9", waitedMs: 20, seq: 9 },
      ],
      admitted: ["seq5-earlier", "seq3", "seq7", "seq9"],
    },
    {
      name: "a promoted job competes at its effective level, ahead of that level by runAt",
      candidates: [
        { id: "high", priority: "high" },
        { id: "normal", priority: "normal" },
        { id: "low-twice-starved", priority: "low", waitedMs: 2 * STARVATION_MS },
      ],
      admitted: ["low-twice-starved", "high", "normal"],
    },
    {
      name: "at most `slots` jobs, the most urgent",
      candidates: [
        { id: "a", priority: "low" },
        { id: "b", priority: "high" },
        { id: "c", priority: "normal" },
        { id: "d", priority: "critical" },
      ],
      request: { slots: 2 },
      admitted: ["d", "b"],
    },
    {
      name: "no slots, nothing admitted",
      candidates: [{ id: "a" }],
      request: { slots: 0 },
      admitted: [],
    },
    {
      name: "admitted jobs use up the free capacity",
      candidates: [
        { id: "two", resources: { cpu: 2 } },
        { id: "one", resources: { cpu: 1 } },
        { id: "another-two", resources: { cpu: 2 } },
        { id: "last-one", resources: { cpu: 1 } },
      ],
      request: { free: { cpu: 4, memoryMb: 1_024 } },
      admitted: ["two", "one", "last-one"],
    },
    {
      name: "backfill: a smaller job passes a big one that does not fit",
      candidates: [
        { id: "big", priority: "high", resources: { cpu: 4 } },
        { id: "small", priority: "low", resources: { cpu: 1 } },
      ],
      request: { free: { cpu: 2, memoryMb: 1_024 } },
      admitted: ["small"],
    },
    {
      name: "backfill is still allowed when the big job has waited exactly starvationMs",
      candidates: [
        { id: "big", priority: "high", waitedMs: STARVATION_MS, resources: { cpu: 4 } },
        { id: "small", priority: "low", resources: { cpu: 1 } },
      ],
      request: { free: { cpu: 2, memoryMb: 1_024 } },
      admitted: ["small"],
    },
    {
      name: "a starving big job reserves its units: a small job of the same unit waits, others run",
      candidates: [
        { id: "big", priority: "normal", waitedMs: starving, resources: { cpu: 4 } },
        { id: "small-cpu", priority: "normal", resources: { cpu: 1 } },
        { id: "memory-only", priority: "low", resources: { memoryMb: 256 } },
        { id: "no-resources", priority: "low" },
      ],
      request: { free: { cpu: 2, memoryMb: 1_024 } },
      admitted: ["memory-only", "no-resources"],
    },
    {
      name: "a starving job reserves only what it needs: the rest of a unit may still be used",
      candidates: [
        { id: "big", waitedMs: starving, resources: { cpu: 4, memoryMb: 512 } },
        { id: "fits-the-rest", resources: { memoryMb: 512 } },
        { id: "too-much-memory", resources: { memoryMb: 1 } },
      ],
      request: { free: { cpu: 2, memoryMb: 1_024 } },
      admitted: ["fits-the-rest"],
    },
    {
      name: "a more urgent small job is chosen before the starving job gets to reserve",
      candidates: [
        { id: "big", priority: "low", waitedMs: starving, resources: { cpu: 4 } },
        { id: "critical-small", priority: "critical", resources: { cpu: 1 } },
        { id: "low-small", priority: "low", resources: { cpu: 1 } },
      ],
      request: { free: { cpu: 2, memoryMb: 1_024 } },
      admitted: ["critical-small"],
    },
    {
      name: "a starving job that fits is simply admitted",
      candidates: [
        { id: "starved", priority: "low", waitedMs: starving, resources: { cpu: 2 } },
        { id: "fresh", priority: "low", resources: { cpu: 2 } },
      ],
      request: { free: { cpu: 4, memoryMb: 1_024 } },
      admitted: ["starved", "fresh"],
    },
    {
      name: "unschedulable: needs more than the whole capacity",
      candidates: [
        { id: "huge", priority: "critical", resources: { cpu: 8 } },
        { id: "small", resources: { cpu: 1 } },
      ],
      admitted: ["small"],
      unschedulable: ["huge"],
    },
    {
      name: "unschedulable: needs a unit the capacity lacks",
      candidates: [
        { id: "gpu", resources: { gpu: 1 } },
        { id: "cpu", resources: { cpu: 1 } },
      ],
      admitted: ["cpu"],
      unschedulable: ["gpu"],
    },
    {
      name: "an unschedulable job reserves nothing, however long it waited",
      candidates: [
        { id: "huge", waitedMs: 10 * STARVATION_MS, resources: { cpu: 8 } },
        { id: "small", resources: { cpu: 1 } },
      ],
      request: { free: { cpu: 1, memoryMb: 0 } },
      admitted: ["small"],
      unschedulable: ["huge"],
    },
    {
      name: "unschedulable jobs are reported even with no free slots",
      candidates: [{ id: "huge", resources: { memoryMb: 2_048 } }, { id: "a" }],
      request: { slots: 0 },
      admitted: [],
      unschedulable: ["huge"],
    },
    {
      name: "jobs with no resources always fit, even with nothing free",
      candidates: [
        { id: "needs-cpu", resources: { cpu: 1 } },
        { id: "none" },
        { id: "zero", resources: { cpu: 0 } },
      ],
      request: { free: { cpu: 0, memoryMb: 0 } },
      admitted: ["none", "zero"],
    },
    {
      name: "jobs with no resources fit a worker with an empty capacity",
      candidates: [{ id: "a" }, { id: "b" }],
      request: { capacity: {}, free: {} },
      admitted: ["a", "b"],
    },
  ])("$name", ({ candidates: specs, request, admitted, unschedulable = [] }) => {
    const result = admitJobs(candidates(specs), {
      slots: 10,
      capacity,
      free: capacity,
      ...request,
      starvationMs: STARVATION_MS,
      now: NOW,
    });
    expect(result.admitted).toEqual(admitted);
    expect(result.unschedulable).toEqual(unschedulable);
  });

  it("does not depend on the order candidates are given in", () => {
    const specs: Spec[] = [
      { id: "a", priority: "low", seq: 1 },
      { id: "b", priority: "high", seq: 2 },
      { id: "c", priority: "high", seq: 3, waitedMs: 5_000 },
      { id: "d", priority: "critical", seq: 4, resources: { cpu: 3 } },
      { id: "e", priority: "normal", seq: 5, resources: { cpu: 2 } },
    ];
    const request: AdmissionRequest = { slots: 10, capacity, free: capacity, starvationMs: STARVATION_MS, now: NOW };
    const forward = admitJobs(candidates(specs), request);
    const backward = admitJobs(candidates(specs).reverse(), request);
    expect(forward.admitted).toEqual(["d", "c", "b", "a"]);
    expect(backward).toEqual(forward);
  });

  it("does not mutate the free resources it is given", () => {
    const free = { cpu: 4, memoryMb: 1_024 };
    admitJobs(candidates([{ id: "a", resources: { cpu: 2 } }]), { slots: 1, capacity, free, starvationMs: STARVATION_MS, now: NOW });
    expect(free).toEqual({ cpu: 4, memoryMb: 1_024 });
  });
});

describe("exact accounting of fractional resources", () => {
  it("reserving and then releasing any fractional needs, in any order, gives back exactly the capacity", () => {
    const need = fc.integer({ min: 1, max: 1_000 }).map((n) => n / 100);
    fc.assert(
      fc.property(fc.array(need, { minLength: 1, maxLength: 20 }), fc.infiniteStream(fc.boolean()), (needs, coin) => {
        const capacity = { cpu: 0.9 };
        let free: Resources = capacity;
        for (const cpu of needs) free = reserve(free, { cpu });
        const order = [...needs].sort(() => (coin.next().value ? 1 : -1));
        for (const cpu of order) free = release(free, { cpu });
        expect(free).toEqual(capacity);
        expect(inUse(capacity, free)).toEqual({ cpu: 0 });
      }),
    );
  });

  it("fits a need equal to what is free after fractional reservations", () => {
    expect(fits({ cpu: 0.7 }, reserve({ cpu: 0.9 }, { cpu: 0.2 }))).toBe(true);
    expect(fits({ cpu: 0.3 }, release(reserve({ cpu: 0.3 }, { cpu: 0.1 }), { cpu: 0.1 }))).toBe(true);
    expect(fits({ cpu: 0.1 }, reserve(reserve({ cpu: 0.3 }, { cpu: 0.1 }), { cpu: 0.1 }))).toBe(true);
  });
});
