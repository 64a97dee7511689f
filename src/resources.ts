import { PRIORITIES, type JobId, type Priority, type Resources } from "./types.js";

/** A runnable job as the admission policy sees it. */
export interface AdmissionCandidate {
  readonly id: JobId;
  readonly priority: Priority;
  /** When it became runnable; waiting is measured from here. */
  readonly runAt: Date;
  /** Insertion order, the tie-break after `runAt`. */
  readonly seq: number;
  readonly resources: Resources;
}

export interface AdmissionRequest {
  /** Free attempt slots. */
  readonly slots: number;
  readonly free: Resources;
  readonly capacity: Resources;
  readonly starvationMs: number;
  readonly now: Date;
}

export interface Admission {
  /** Ids to claim, in the order they were chosen. */
  readonly admitted: readonly JobId[];
  /** Candidates that need more than the whole capacity. */
  readonly unschedulable: readonly JobId[];
}

/**
 * The level a job competes at: its own, one level more urgent for every `starvationMs` it has
 * waited since `runAt`, never above critical (0).
 */
export function effectivePriority(priority: Priority, runAt: Date, now: Date, starvationMs: number): number {
  const level = PRIORITIES.indexOf(priority);
  const waited = now.getTime() - runAt.getTime();
  if (waited <= 0 || starvationMs <= 0) return level;
  return Math.max(0, level - Math.floor(waited / starvationMs));
}

/**
 * Resources are counted in millionths of a unit: sums and differences of whole numbers are exact,
 * so free capacity never drifts (in floating point, 0.9 - 0.2 + 0.2 is 0.8999999999999999 and a
 * job needing 0.9 would never fit again). Amounts too large to count this way are counted as they are.
 */
const MICRO = 1_000_000;

function micros(amount: number): number {
  return Math.round(amount * MICRO);
}

/** `a + b`, exact to a millionth of a unit. */
function addExact(a: number, b: number): number {
  const sum = micros(a) + micros(b);
  return Number.isSafeInteger(sum) ? sum / MICRO : a + b;
}

/** Whether `need` names any unit (most jobs need none), without listing its units. */
export function namesAnyUnit(need: Resources): boolean {
  for (const _unit in need) return true;
  return false;
}

/** `a < b`, to a millionth of a unit; amounts too large to count in millionths are compared as they are. */
function lessExact(a: number, b: number): boolean {
  const am = micros(a);
  const bm = micros(b);
  return Number.isSafeInteger(am) && Number.isSafeInteger(bm) ? am < bm : a < b;
}

/** Whether `need` fits into `free`: every unit named by `need` must be available (to a millionth). */
export function fits(need: Resources, free: Resources): boolean {
  for (const [unit, amount] of Object.entries(need)) {
    if (amount > 0 && lessExact(free[unit] ?? 0, amount)) return false;
  }
  return true;
}

/** `free - need`, unit by unit; a unit the capacity does not name stays absent. */
export function reserve(free: Resources, need: Resources): Resources {
  const next: Record<string, number> = { ...free };
  for (const [unit, amount] of Object.entries(need)) next[unit] = addExact(next[unit] ?? 0, -amount);
  return next;
}

/** `free + need`, unit by unit. */
export function release(free: Resources, need: Resources): Resources {
  const next: Record<string, number> = { ...free };
  for (const [unit, amount] of Object.entries(need)) next[unit] = addExact(next[unit] ?? 0, amount);
  return next;
}

/** `capacity - free` for each unit of the capacity: what is in use. */
export function inUse(capacity: Resources, free: Resources): Resources {
  return Object.fromEntries(Object.keys(capacity).map((unit) => [unit, addExact(capacity[unit] ?? 0, -(free[unit] ?? 0))]));
}

/**
 * Chooses which candidates to claim. In effective-priority order (then `runAt`, then `seq`),
 * a candidate that fits is taken; one that does not fit is skipped so smaller jobs may backfill,
 * unless it has waited longer than `starvationMs`: then it reserves what it needs, and later
 * candidates may use only what is left beyond that. Candidates needing more than the whole
 * capacity are reported as unschedulable and reserve nothing.
 */
export function admitJobs(candidates: readonly AdmissionCandidate[], request: AdmissionRequest): Admission {
  const { now, starvationMs } = request;
  const ranked = candidates
    .map((c) => ({ c, level: effectivePriority(c.priority, c.runAt, now, starvationMs) }))
    .sort((a, b) => a.level - b.level || a.c.runAt.getTime() - b.c.runAt.getTime() || a.c.seq - b.c.seq);
  const admitted: JobId[] = [];
  const unschedulable: JobId[] = [];
  let free = request.free;
  for (const { c } of ranked) {
    if (!fits(c.resources, request.capacity)) {
      unschedulable.push(c.id);
      continue;
    }
    if (admitted.length >= request.slots) continue;
    if (fits(c.resources, free)) {
      admitted.push(c.id);
      free = reserve(free, c.resources);
    } else if (now.getTime() - c.runAt.getTime() > starvationMs) {
      free = reserve(free, c.resources);
    }
  }
  return { admitted, unschedulable };
}
