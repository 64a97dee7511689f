import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { ManualClock } from "../../src/clock.js";
import { QueueClosedError, SchemaNotMigratedError, StorageError, ValidationError } from "../../src/errors.js";
import { misfireGraceMs } from "../../src/schedule/plan-tick.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { JobRecord } from "../../src/types.js";
import { closeAll, newQueue, recordEvents, runUntil, untilStatus, wrapStorage, type TestQueue } from "./support.js";

afterEach(closeAll);

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Few wake-ups per fake hour: the ticker wakes at each tick anyway. */
const POLL = 10 * SECOND;
const GRACE = misfireGraceMs(POLL);

/** A queue whose clock starts at `start`, polling every POLL. */
function queueAt(start: string, options: Parameters<typeof newQueue>[0] = {}): TestQueue {
  return newQueue({ clock: new ManualClock(new Date(start)), pollIntervalMs: POLL, retention: false, ...options });
}

/** Every job in the store, oldest first. */
async function jobsOf(tq: TestQueue): Promise<JobRecord[]> {
  return [...(await tq.queue.listJobs({ limit: 1_000 })).jobs].reverse();
}

/** The ticks of the stored jobs of schedule `name`, as ISO times, oldest first. */
async function ticksOf(tq: TestQueue, name: string): Promise<string[]> {
  const prefix = `schedule:${name}:`;
  return (await jobsOf(tq)).flatMap((job) => (job.idempotencyKey?.startsWith(prefix) ? [job.idempotencyKey.slice(prefix.length)] : []));
}

/** Every minute from `from` (exclusive) to `to` (inclusive), as ISO times. */
function minutes(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(from) + MINUTE; t <= Date.parse(to); t += MINUTE) out.push(new Date(t).toISOString());
  return out;
}

describe("schedules on a ManualClock", () => {
  it("enqueues every tick of an every-minute schedule over an hour, each once, at its time", async () => {
    const tq = queueAt("2026-01-01T00:00:00Z");
    await tq.queue.start();
    const stored = await tq.queue.schedule("every-minute", { cron: "* * * * *", type: "reports.tick", payload: { n: 1 }, options: { priority: "low", maxAttempts: 2 } });
    expect(stored).toMatchObject({ name: "every-minute", nextRunAt: new Date("2026-01-01T00:01:00Z"), lastRunAt: undefined, misfire: "run-once" });

    await tq.clock.advance(MINUTE - 1);
    expect(await jobsOf(tq)).toEqual([]);
    await tq.clock.advance(1);
    expect(await ticksOf(tq, "every-minute")).toEqual(["2026-01-01T00:01:00.000Z"]);

    await tq.clock.advance(HOUR - MINUTE);
    expect(await ticksOf(tq, "every-minute")).toEqual(minutes("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"));
    const jobs = await jobsOf(tq);
    expect(jobs).toHaveLength(60);
    // The type has no handler here: the jobs wait for a worker that has one.
    expect(jobs.every((job) => job.type === "reports.tick" && job.status === "pending" && job.priority === "low" && job.maxAttempts === 2)).toBe(true);
    expect(jobs[0]?.payload).toEqual({ n: 1 });
    expect(await tq.queue.listSchedules()).toEqual([
      expect.objectContaining({ name: "every-minute", nextRunAt: new Date("2026-01-01T01:01:00Z"), lastRunAt: new Date("2026-01-01T01:00:00Z") }),
    ]);
  });

  it("runs the jobs of a type with a handler, and emits job:enqueued for each", async () => {
    const tq = queueAt("2026-01-01T00:00:00Z");
    const ran: unknown[] = [];
    tq.queue.defineHandler("ping", { payload: z.object({ to: z.string() }), run: (payload) => void ran.push(payload) });
    const events = recordEvents(tq.queue, ["job:enqueued"]);
    await tq.queue.start();
    await tq.queue.schedule("pings", { cron: "*/10 * * * * *", type: "ping", payload: { to: "ops" } });
    await tq.clock.advance(30 * SECOND);
    await runUntil(tq.clock, () => ran.length === 3);
    expect(ran).toEqual([{ to: "ops" }, { to: "ops" }, { to: "ops" }]);
    expect(events).toHaveLength(3);
  });

  it("fires each tick once with two started queues on one store", async () => {
    const storage = new MemoryStorage();
    const clock = new ManualClock(new Date("2026-01-01T00:00:00Z"));
    const a = queueAt("2026-01-01T00:00:00Z", { clock, storage: wrapStorage(storage) });
    const b = queueAt("2026-01-01T00:00:00Z", { clock, storage: wrapStorage(storage) });
    await a.queue.start();
    await b.queue.start();
    await a.queue.schedule("shared", { cron: "* * * * *", type: "t" });
    await clock.advance(10 * MINUTE);
    expect(await ticksOf(a, "shared")).toEqual(minutes("2026-01-01T00:00:00Z", "2026-01-01T00:10:00Z"));
  });

  it("outlives the queue that made it: another queue on the store fires it", async () => {
    const storage = new MemoryStorage();
    const clock = new ManualClock(new Date("2026-01-01T00:00:00Z"));
    const maker = queueAt("2026-01-01T00:00:00Z", { clock, storage: wrapStorage(storage) });
    await maker.queue.schedule("kept", { cron: "* * * * *", type: "t" });
    await maker.queue.shutdown();
    const worker = queueAt("2026-01-01T00:00:00Z", { clock, storage: wrapStorage(storage) });
    await worker.queue.start();
    await clock.advance(MINUTE);
    expect(await ticksOf(worker, "kept")).toEqual(["2026-01-01T00:01:00.000Z"]);
  });

  it("fires nothing in a queue that is not started, and stops firing on shutdown", async () => {
    const storage = new MemoryStorage();
    const clock = new ManualClock(new Date("2026-01-01T00:00:00Z"));
    const idle = queueAt("2026-01-01T00:00:00Z", { clock, storage: wrapStorage(storage) });
    await idle.queue.schedule("s", { cron: "* * * * *", type: "t", misfire: "skip" });
    await clock.advance(5 * MINUTE);
    expect(await jobsOf(idle)).toEqual([]);
    const started = queueAt("2026-01-01T00:00:00Z", { clock, storage: wrapStorage(storage) });
    await started.queue.start();
    await clock.advance(MINUTE);
    // 00:01 to 00:04 were missed (skip); 00:05 was due as the worker started.
    const fired = ["2026-01-01T00:05:00.000Z", "2026-01-01T00:06:00.000Z"];
    expect(await ticksOf(idle, "s")).toEqual(fired);
    await started.queue.shutdown();
    await clock.advance(5 * MINUTE);
    expect(await ticksOf(idle, "s")).toEqual(fired);
    await expect(started.queue.schedule("late", { cron: "* * * * *", type: "t" })).rejects.toBeInstanceOf(QueueClosedError);
  });

  it("replaces a schedule of the same name: the next run is planned from the new expression", async () => {
    const tq = queueAt("2026-01-01T00:00:00Z");
    await tq.queue.start();
    await tq.queue.schedule("s", { cron: "* * * * *", type: "t" });
    await tq.clock.advance(2 * MINUTE);
    const replaced = await tq.queue.schedule("s", { cron: "0 * * * *", type: "u", payload: { v: 2 } });
    expect(replaced).toMatchObject({ cron: "0 * * * *", type: "u", nextRunAt: new Date("2026-01-01T01:00:00Z"), lastRunAt: new Date("2026-01-01T00:02:00Z") });
    await tq.clock.advance(HOUR);
    expect(await ticksOf(tq, "s")).toEqual(["2026-01-01T00:01:00.000Z", "2026-01-01T00:02:00.000Z", "2026-01-01T01:00:00.000Z"]);
    expect((await jobsOf(tq)).at(-1)).toMatchObject({ type: "u", payload: { v: 2 } });
    expect(await tq.queue.listSchedules()).toHaveLength(1);
  });

  it("a put planned before a tick that lands after the tick fired and its job ran does not enqueue that tick again", async () => {
    const storage = new MemoryStorage();
    const worker = queueAt("2026-01-01T00:00:30Z", { storage: wrapStorage(storage) });
    const ran: string[] = [];
    worker.queue.defineHandler("t", { run: (_, ctx) => void ran.push(ctx.job.idempotencyKey ?? "") });
    await worker.queue.start();
    await worker.queue.schedule("s", { cron: "* * * * *", type: "t" });
    await worker.clock.advance(MINUTE);
    await runUntil(worker.clock, () => ran.length === 1);
    // Another process declared the same schedule at 00:00:30 by its clock; its put lands only now.
    const late = queueAt("2026-01-01T00:00:30Z", { storage: wrapStorage(storage) });
    const stored = await late.queue.schedule("s", { cron: "* * * * *", type: "t" });
    expect(stored).toMatchObject({ nextRunAt: new Date("2026-01-01T00:02:00Z"), lastRunAt: new Date("2026-01-01T00:01:00Z") });
    await worker.clock.advance(MINUTE);
    await runUntil(worker.clock, () => ran.length === 2);
    expect(await ticksOf(worker, "s")).toEqual(["2026-01-01T00:01:00.000Z", "2026-01-01T00:02:00.000Z"]);
  });

  it("answers a put as stored when its move past a tick that already fired fails, and the ticker moves it", async () => {
    const storage = new MemoryStorage();
    const worker = queueAt("2026-01-01T00:00:30Z", { storage: wrapStorage(storage) });
    await worker.queue.start();
    await worker.queue.schedule("s", { cron: "* * * * *", type: "t" });
    await worker.clock.advance(MINUTE);
    expect(await ticksOf(worker, "s")).toEqual(["2026-01-01T00:01:00.000Z"]);
    // Another process's put, planned before 00:01, lands now; the store fails its follow-up move.
    const late = queueAt("2026-01-01T00:00:30Z", {
      storage: wrapStorage(storage, { fireSchedule: () => Promise.reject(new StorageError("PostgreSQL operation failed (55P03)")) }),
    });
    const stored = await late.queue.schedule("s", { cron: "* * * * *", type: "t", payload: { v: 2 } });
    expect(stored).toMatchObject({ nextRunAt: new Date("2026-01-01T00:02:00Z"), lastRunAt: new Date("2026-01-01T00:01:00Z"), payload: { v: 2 } });
    await worker.clock.advance(MINUTE);
    expect(await ticksOf(worker, "s")).toEqual(["2026-01-01T00:01:00.000Z", "2026-01-01T00:02:00.000Z"]);
    expect(await worker.queue.listSchedules()).toEqual([expect.objectContaining({ nextRunAt: new Date("2026-01-01T00:03:00Z"), payload: { v: 2 } })]);
  });

  it("moves a next run set back to a tick that already fired past it, and fires that tick no more", async () => {
    const storage = new MemoryStorage();
    const worker = queueAt("2026-01-01T00:00:30Z", { storage: wrapStorage(storage) });
    await worker.queue.start();
    await worker.queue.schedule("s", { cron: "* * * * *", type: "t" });
    await worker.clock.advance(MINUTE);
    // The tick's job ended (cancelled here): its idempotency key holds off nothing any more.
    const [job] = await jobsOf(worker);
    await worker.queue.cancel(job!.id);
    // A put planned before 00:01, straight to the store.
    const [current] = await storage.listSchedules();
    await storage.putSchedule({ ...current!, nextRunAt: new Date("2026-01-01T00:01:00Z") });
    await worker.clock.advance(POLL);
    expect(await worker.queue.listSchedules()).toEqual([expect.objectContaining({ nextRunAt: new Date("2026-01-01T00:02:00Z") })]);
    await worker.clock.advance(MINUTE);
    expect(await ticksOf(worker, "s")).toEqual(["2026-01-01T00:01:00.000Z", "2026-01-01T00:02:00.000Z"]);
  });

  it("unschedules: no more ticks; true for a schedule that existed, false otherwise", async () => {
    const tq = queueAt("2026-01-01T00:00:00Z");
    await tq.queue.start();
    await tq.queue.schedule("s", { cron: "* * * * *", type: "t" });
    await tq.clock.advance(MINUTE);
    expect(await tq.queue.unschedule("s")).toBe(true);
    expect(await tq.queue.unschedule("s")).toBe(false);
    expect(await tq.queue.unschedule("never")).toBe(false);
    await tq.clock.advance(10 * MINUTE);
    expect(await ticksOf(tq, "s")).toEqual(["2026-01-01T00:01:00.000Z"]);
    expect(await tq.queue.listSchedules()).toEqual([]);
  });
});

describe("failures while firing", () => {
  it("reports a tick whose payload this worker's handler refuses, and passes over it without a job", async () => {
    const storage = new MemoryStorage();
    const clock = new ManualClock(new Date("2026-01-01T00:00:00Z"));
    // Stored by a process without the handler, so nothing checked the payload against its schema.
    const producer = queueAt("2026-01-01T00:00:00Z", { clock, storage: wrapStorage(storage) });
    await producer.queue.schedule("typed", { cron: "* * * * *", type: "typed", payload: { n: "one" } });
    const worker = queueAt("2026-01-01T00:00:00Z", { clock, storage: wrapStorage(storage) });
    worker.queue.defineHandler("typed", { payload: z.object({ n: z.number() }), run: () => undefined });
    const errors = recordEvents(worker.queue, ["queue:error"]);
    await worker.queue.start();
    await clock.advance(MINUTE);
    expect(await jobsOf(worker)).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.payload).toMatchObject({ context: "schedule typed: tick 2026-01-01T00:01:00.000Z", error: expect.any(ValidationError) });
    expect((await worker.queue.listSchedules())[0]).toMatchObject({ nextRunAt: new Date("2026-01-01T00:02:00Z"), lastRunAt: undefined });
  });

  it("reports a store that fails a fire, and fires the tick at the next pass", async () => {
    const storage = new MemoryStorage();
    let failures = 1;
    const flaky = wrapStorage(storage, {
      fireSchedule: async (request) => {
        if (failures-- > 0) throw new Error("connection reset");
        return storage.fireSchedule(request);
      },
    });
    const tq = queueAt("2026-01-01T00:00:00Z", { storage: flaky });
    const errors = recordEvents(tq.queue, ["queue:error"]);
    await tq.queue.start();
    await tq.queue.schedule("s", { cron: "* * * * *", type: "t" });
    await tq.clock.advance(MINUTE);
    expect(errors.map((e) => (e.payload as { context: string }).context)).toEqual(["schedule s"]);
    expect(await jobsOf(tq)).toEqual([]);
    await tq.clock.advance(POLL);
    expect(await ticksOf(tq, "s")).toEqual(["2026-01-01T00:01:00.000Z"]);
  });

  it("reports a store that cannot list schedules once while it keeps failing the same way, and again after it recovered", async () => {
    const storage = new MemoryStorage();
    let failing = true;
    const unmigrated = wrapStorage(storage, {
      listSchedules: async () => {
        if (failing) throw new SchemaNotMigratedError("jobgraph");
        return storage.listSchedules();
      },
    });
    const tq = queueAt("2026-01-01T00:00:00Z", { storage: unmigrated });
    const errors = recordEvents(tq.queue, ["queue:error"]);
    await tq.queue.start();
    await tq.clock.advance(10 * POLL);
    expect(errors.map((e) => (e.payload as { context: string }).context)).toEqual(["schedules"]);
    failing = false;
    await tq.clock.advance(POLL);
    failing = true;
    await tq.clock.advance(10 * POLL);
    expect(errors).toHaveLength(2);
  });

  it("catches up tick by tick after a pause shorter than the grace", async () => {
    const storage = new MemoryStorage();
    let paused = true;
    const slow = wrapStorage(storage, {
      listSchedules: async () => {
        if (paused) throw new Error("store busy");
        return storage.listSchedules();
      },
    });
    const tq = queueAt("2026-01-01T00:00:00Z", { storage: slow });
    await tq.queue.start();
    await tq.queue.schedule("s", { cron: "*/5 * * * * *", type: "t" });
    await tq.clock.advance(GRACE - 5 * SECOND);
    expect(await jobsOf(tq)).toEqual([]);
    paused = false;
    await tq.clock.advance(POLL);
    const expected = Array.from({ length: (GRACE - 5 * SECOND + POLL) / (5 * SECOND) }, (_, i) => new Date(Date.parse("2026-01-01T00:00:05Z") + i * 5 * SECOND).toISOString());
    expect(await ticksOf(tq, "s")).toEqual(expected);
  });
});

describe("misfire", () => {
  /** A schedule made at 00:00 by a queue that is not started; a worker starts at `startAt`. */
  async function outage(misfire: "run-once" | "skip" | undefined, cron: string, startAt: string): Promise<TestQueue> {
    const tq = queueAt("2026-01-01T00:00:00Z");
    await tq.queue.schedule("s", { cron, type: "t", ...(misfire === undefined ? {} : { misfire }) });
    await tq.clock.advance(Date.parse(startAt) - tq.clock.now());
    await tq.queue.start();
    await tq.clock.advance(0);
    return tq;
  }

  it("run-once (the default): one job for all the ticks missed while no worker ran, then on schedule", async () => {
    const tq = await outage(undefined, "* * * * *", "2026-01-01T01:00:45Z");
    expect(await ticksOf(tq, "s")).toEqual(["2026-01-01T01:00:00.000Z"]);
    await tq.clock.advance(15 * SECOND);
    expect(await ticksOf(tq, "s")).toEqual(["2026-01-01T01:00:00.000Z", "2026-01-01T01:01:00.000Z"]);
  });

  it("skip: the missed ticks are dropped, the next one runs", async () => {
    const tq = await outage("skip", "* * * * *", "2026-01-01T01:00:45Z");
    expect(await jobsOf(tq)).toEqual([]);
    expect((await tq.queue.listSchedules())[0]?.nextRunAt).toEqual(new Date("2026-01-01T01:01:00Z"));
    await tq.clock.advance(15 * SECOND);
    expect(await ticksOf(tq, "s")).toEqual(["2026-01-01T01:01:00.000Z"]);
  });

  it("a tick late by less than the grace is not missed: it runs under either policy", async () => {
    for (const misfire of ["run-once", "skip"] as const) {
      const tq = await outage(misfire, "0 * * * *", new Date(Date.parse("2026-01-01T01:00:00Z") + GRACE - SECOND).toISOString());
      expect(await ticksOf(tq, "s")).toEqual(["2026-01-01T01:00:00.000Z"]);
    }
  });

  it("never a burst: an every-second schedule after a day without workers enqueues one job, then one a second", async () => {
    const tq = await outage("run-once", "* * * * * *", "2026-01-02T00:00:00.500Z");
    expect(await ticksOf(tq, "s")).toEqual(["2026-01-02T00:00:00.000Z"]);
    await tq.clock.advance(2 * SECOND);
    expect(await ticksOf(tq, "s")).toEqual(["2026-01-02T00:00:00.000Z", "2026-01-02T00:00:01.000Z", "2026-01-02T00:00:02.000Z"]);
  });
});

describe("DST", () => {
  /** The ticks of `cron` in `timezone` that a started queue enqueues between `from` and `to`. */
  async function ticksBetween(cron: string, timezone: string, from: string, to: string): Promise<string[]> {
    const tq = queueAt(from, { pollIntervalMs: HOUR });
    await tq.queue.start();
    await tq.queue.schedule("dst", { cron, timezone, type: "t" });
    await tq.clock.advance(Date.parse(to) - Date.parse(from));
    return ticksOf(tq, "dst");
  }

  it("Europe/Berlin spring gap: 02:30 runs at 03:00 CEST that day; */30 skips the missing hour", async () => {
    expect(await ticksBetween("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z")).toEqual([
      "2026-03-28T01:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z",
    ]);
    expect(await ticksBetween("*/30 * * * *", "Europe/Berlin", "2026-03-29T00:10:00Z", "2026-03-29T01:40:00Z")).toEqual([
      "2026-03-29T00:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-29T01:30:00.000Z",
    ]);
  });

  it("Europe/Berlin autumn repeat: 02:30 runs once; */30 runs in both 02:00 hours", async () => {
    expect(await ticksBetween("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z")).toEqual([
      "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z",
    ]);
    expect(await ticksBetween("*/30 * * * *", "Europe/Berlin", "2026-10-24T23:50:00Z", "2026-10-25T01:40:00Z")).toEqual([
      "2026-10-25T00:00:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-25T01:00:00.000Z", "2026-10-25T01:30:00.000Z",
    ]);
  });

  it("America/New_York: 02:30 in the spring gap runs at 03:00 EDT; 01:30 in the autumn repeat runs once", async () => {
    expect(await ticksBetween("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z")).toEqual([
      "2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z",
    ]);
    expect(await ticksBetween("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z")).toEqual([
      "2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z",
    ]);
  });
});

describe("schedule input", () => {
  const valid = { cron: "* * * * *", type: "t" };
  const unreadable = new Proxy({}, { ownKeys() { throw new Error("trap"); } });

  it.each([
    ["an empty name", "", valid],
    ["a name of 201 characters", "n".repeat(201), valid],
    ["a name with a newline", "a\nb", valid],
    ["a name with U+0000", "a\u0000b", valid],
    ["a name with an escape sequence", "a\u001b[31mb", valid],
    ["a name with a lone surrogate", "a\uD800b", valid],
    ["a name that is not a string", 42, valid],
    ["no input", "s", undefined],
    ["input that is not an object", "s", "* * * * *"],
    ["a bad expression", "s", { ...valid, cron: "61 * * * *" }],
    ["an expression of 7 fields", "s", { ...valid, cron: "* * * * * * *" }],
    ["an expression that never fires", "s", { ...valid, cron: "0 0 30 2 *" }],
    ["a date and time instead of an expression", "s", { ...valid, cron: "2026-03-01T00:00:00" }],
    ["a date and time with an offset", "s", { ...valid, cron: "2026-03-01T00:00:00+05:00" }],
    ["a date and time to the minute", "s", { ...valid, cron: "2026-03-01T00:00" }],
    ["a date and time as toUTCString writes it", "s", { ...valid, cron: "Sun, 01 Mar 2026 00:00:00 GMT" }],
    ["a date and time as toString writes it", "s", { ...valid, cron: "Sun Mar 01 2026 00:00:00" }],
    ["a date and time of 5 fields", "s", { ...valid, cron: "1 Mar 2026 00:00:00 GMT" }],
    ["an expression of 4 fields", "s", { ...valid, cron: "* * * *" }],
    ["an expression with a control character", "s", { ...valid, cron: "*\t* * * *" }],
    ["an unknown time zone", "s", { ...valid, timezone: "Mars/Olympus" }],
    ["an empty time zone", "s", { ...valid, timezone: "" }],
    ["an unknown misfire policy", "s", { ...valid, misfire: "catch-up" }],
    ["no type", "s", { cron: "* * * * *" }],
    ["a bad type", "s", { ...valid, type: "has spaces" }],
    ["an unknown field", "s", { ...valid, every: "minute" }],
    ["an idempotency key in options", "s", { ...valid, options: { idempotencyKey: "k" } }],
    ["dependencies in options", "s", { ...valid, options: { dependsOn: [] } }],
    ["a bad priority", "s", { ...valid, options: { priority: "urgent" } }],
    ["a payload that is not JSON", "s", { ...valid, payload: { n: 1n } }],
    ["a payload with a function", "s", { ...valid, payload: { f: () => 1 } }],
    ["an unreadable payload", "s", { ...valid, payload: unreadable }],
    ["a payload the handler's schema refuses", "s", { ...valid, type: "typed", payload: { n: "one" } }],
    ["a job larger than this worker's capacity", "s", { ...valid, type: "typed", payload: { n: 1 }, options: { resources: { cpu: 64 } } }],
  ])("refuses %s with a ValidationError, storing nothing", async (_, name, input) => {
    const tq = queueAt("2026-01-01T00:00:00Z");
    tq.queue.defineHandler("typed", { payload: z.object({ n: z.number() }), run: () => undefined });
    await expect(tq.queue.schedule(name as string, input as never)).rejects.toBeInstanceOf(ValidationError);
    expect(await tq.queue.listSchedules()).toEqual([]);
  });

  it("refuses a bad name to unschedule with a ValidationError", async () => {
    const tq = queueAt("2026-01-01T00:00:00Z");
    for (const name of ["", "a\nb", 7, undefined]) await expect(tq.queue.unschedule(name as string)).rejects.toBeInstanceOf(ValidationError);
  });

  it("keeps a name at its longest, and unicode, intact in the schedule and its jobs' keys", async () => {
    const tq = queueAt("2026-01-01T00:00:00Z");
    await tq.queue.start();
    const name = `ünïcode ✓ ${"n".repeat(189)}`;
    await tq.queue.schedule(name, { cron: "* * * * *", type: "t", timezone: "Asia/Kolkata" });
    await tq.clock.advance(MINUTE);
    expect(await ticksOf(tq, name)).toEqual(["2026-01-01T00:01:00.000Z"]);
    expect((await tq.queue.listSchedules())[0]).toMatchObject({ name, timezone: "Asia/Kolkata" });
  });

  it("keeps a time zone by its canonical name, and reads the expression in it", async () => {
    const tq = queueAt("2026-01-01T00:00:00Z");
    const stored = await tq.queue.schedule("berlin", { cron: "0 3 * * *", type: "t", timezone: "europe/berlin" });
    // 03:00 in Berlin (UTC+1 in January) is 02:00 UTC.
    expect(stored).toMatchObject({ timezone: "Europe/Berlin", nextRunAt: new Date("2026-01-01T02:00:00Z") });
    expect((await tq.queue.listSchedules())[0]).toMatchObject({ name: "berlin", timezone: "Europe/Berlin" });
  });

  it("lets a schedule's job be enqueued with a payload the local handler accepts, checked again at each tick", async () => {
    const tq = queueAt("2026-01-01T00:00:00Z");
    const errors = recordEvents(tq.queue, ["queue:error"]);
    tq.queue.defineHandler("typed", { payload: z.object({ n: z.number() }), run: () => undefined });
    await tq.queue.start();
    const job = await tq.queue.schedule("ok", { cron: "* * * * *", type: "typed", payload: { n: 1 } });
    expect(job.payload).toEqual({ n: 1 });
    await tq.clock.advance(MINUTE);
    const [first] = await jobsOf(tq);
    expect(first).toMatchObject({ type: "typed", payload: { n: 1 } });
    await untilStatus(tq, first!.id, "completed");
    expect(errors).toEqual([]);
  });
});
