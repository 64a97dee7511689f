import { ManualClock } from "../../src/clock.js";
import type { QueueEventName, QueueEvents } from "../../src/events.js";
import type { QueueOptions } from "../../src/options.js";
import { Queue } from "../../src/queue.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { Storage } from "../../src/storage/storage.js";
import type { JobId, JobRecord, JobStatus } from "../../src/types.js";

/** A queue on a fresh MemoryStorage with a ManualClock, and what the test needs to drive it. */
export interface TestQueue {
  readonly queue: Queue;
  readonly clock: ManualClock;
  readonly storage: Storage;
}

const open: { queue: Queue; clock: ManualClock }[] = [];

/** Small, deterministic defaults: a fixed capacity and a short poll so the fake clock moves little. */
export function newQueue(options: QueueOptions = {}): TestQueue {
  const clock = (options.clock as ManualClock | undefined) ?? new ManualClock();
  const storage = options.storage ?? new MemoryStorage();
  // Tests that provoke errors assert on them through events; a test of the logger passes its own.
  const queue = new Queue({ capacity: { cpu: 4 }, pollIntervalMs: 100, shutdownGraceMs: 1_000, logger: false, ...options, clock, storage });
  open.push({ queue, clock });
  return { queue, clock, storage };
}

/** Shuts down every queue made by `newQueue` in this file (use in `afterEach`). */
export async function closeAll(): Promise<void> {
  const queues = open.splice(0);
  for (const { queue, clock } of queues) await drive(clock, queue.shutdown(), { maxMs: 120_000, stepMs: 1_000 });
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A promise settled from outside: holds a handler open until the test lets it go. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Advances the clock in small steps until `predicate` holds; fails after `maxMs` of fake time.
 * Starts with a zero-length step, so what is already due settles without moving time.
 */
export async function runUntil(
  clock: ManualClock,
  predicate: () => boolean | Promise<boolean>,
  { stepMs = 10, maxMs = 60_000 }: { stepMs?: number; maxMs?: number } = {},
): Promise<void> {
  await clock.advance(0);
  for (let waited = 0; ; waited += stepMs) {
    if (await predicate()) return;
    if (waited >= maxMs) throw new Error(`condition not met within ${maxMs} ms of fake time`);
    await clock.advance(stepMs);
  }
}

/** Advances the clock until `promise` settles, then answers its value (or throws its error). */
export async function drive<T>(clock: ManualClock, promise: Promise<T>, options: { stepMs?: number; maxMs?: number } = {}): Promise<T> {
  let done = false;
  const watched = promise.finally(() => {
    done = true;
  });
  watched.catch(() => undefined);
  await runUntil(clock, () => done, options);
  return watched;
}

/** Runs until the job has `status`; answers the job. */
export async function untilStatus(tq: Pick<TestQueue, "queue" | "clock">, id: JobId, status: JobStatus, options?: { stepMs?: number; maxMs?: number }): Promise<JobRecord> {
  let job: JobRecord | undefined;
  await runUntil(
    tq.clock,
    async () => {
      job = await tq.queue.getJob(id);
      return job?.status === status;
    },
    options,
  );
  return job as JobRecord;
}

/** Everything a queue emitted, in order, as `[event, payload]` pairs. */
export function recordEvents(queue: Queue, events: readonly QueueEventName[]): { name: QueueEventName; payload: QueueEvents[QueueEventName] }[] {
  const seen: { name: QueueEventName; payload: QueueEvents[QueueEventName] }[] = [];
  for (const name of events) queue.on(name, (payload) => seen.push({ name, payload }));
  return seen;
}

/** A comparable view of the store: every job (newest first) and the counts by status. */
export async function snapshotStore(queue: Queue): Promise<{ ids: string[]; statuses: string[]; byStatus: Record<string, number> }> {
  const page = await queue.listJobs({ limit: 1_000 });
  const metrics = await queue.metrics();
  return { ids: page.jobs.map((j) => j.id), statuses: page.jobs.map((j) => j.status), byStatus: { ...metrics.jobs.byStatus } };
}

/** Counts of attempts running at once, with the peak seen. */
export class Concurrency {
  current = 0;
  peak = 0;
  enter(amount = 1): void {
    this.current += amount;
    this.peak = Math.max(this.peak, this.current);
  }
  leave(amount = 1): void {
    this.current -= amount;
  }
}

/** Runs until the queue emits `event` (optionally one matching `where`); answers its payload. */
export async function untilEvent<E extends QueueEventName>(
  tq: Pick<TestQueue, "queue" | "clock">,
  event: E,
  where: (payload: QueueEvents[E]) => boolean = () => true,
  options?: { stepMs?: number; maxMs?: number },
): Promise<QueueEvents[E]> {
  let seen: QueueEvents[E] | undefined;
  const listener = (payload: QueueEvents[E]) => {
    if (seen === undefined && where(payload)) seen = payload;
  };
  tq.queue.on(event, listener);
  try {
    await runUntil(tq.clock, () => seen !== undefined, options);
  } finally {
    tq.queue.off(event, listener);
  }
  return seen as QueueEvents[E];
}

/**
 * A view of `storage` with some methods replaced; the rest are the store's own. `close` is a
 * no-op unless overridden, so several queues can share one store and each shut down.
 */
export function wrapStorage(storage: Storage, overrides: Partial<Storage> = {}): Storage {
  const replaced: Partial<Storage> = { close: async () => undefined, ...overrides };
  return new Proxy(storage, {
    get(target, property, receiver) {
      const own = (replaced as Record<PropertyKey, unknown>)[property];
      if (own !== undefined) return own;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * On a started worker with one slot and one prefetched place (`concurrency: 1, prefetch: 1`), two
 * jobs of type "t" with one attempt each: x runs until `releaseX`, y is leased and waits for the
 * slot. `runs` lists the handler's runs by job name.
 */
export async function prefetchedBehindHeld(tq: TestQueue): Promise<{ x: JobId; y: JobId; runs: string[]; releaseX: () => void }> {
  const hold = deferred<string>();
  const runs: string[] = [];
  tq.queue.defineHandler("t", {
    retry: { maxAttempts: 1 },
    run: (payload) => {
      const name = (payload as { name: string }).name;
      runs.push(name);
      return name === "x" ? hold.promise : name;
    },
  });
  const x = await tq.queue.enqueue("t", { name: "x" });
  const y = await tq.queue.enqueue("t", { name: "y" });
  await tq.queue.start();
  await untilStatus(tq, x.id, "running");
  await untilStatus(tq, y.id, "running");
  return { x: x.id, y: y.id, runs, releaseX: () => hold.resolve("x") };
}
