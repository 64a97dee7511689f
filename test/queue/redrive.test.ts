import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PermanentError, QueueError } from "../../src/errors.js";
import { MAX_RETRY_MANY } from "../../src/redrive.js";
import { closeAll, newQueue, runUntil, snapshotStore, type TestQueue } from "./support.js";

afterEach(closeAll);

let tq: TestQueue;
let failedId: string;
let cancelledId: string;

beforeEach(async () => {
  tq = newQueue();
  let runs = 0;
  tq.queue.defineHandler("flaky", {
    run: () => {
      if (++runs === 1) throw new PermanentError("first run fails");
      return "ok";
    },
  });
  failedId = (await tq.queue.enqueue("flaky", {})).id;
  cancelledId = (await tq.queue.enqueue("flaky", {}, { delayMs: 60_000 })).id;
  await tq.queue.cancel(cancelledId);
  await tq.queue.start();
  await runUntil(tq.clock, async () => (await tq.queue.getJob(failedId))?.status === "failed");
});

describe("retryMany", () => {
  it("runs the retried jobs again: a redrive of failed jobs leaves the cancelled one", async () => {
    expect(await tq.queue.retryMany({ type: "flaky" })).toBe(1);
    await runUntil(tq.clock, async () => (await tq.queue.getJob(failedId))?.status === "completed");
    expect((await tq.queue.getJob(failedId))?.result).toBe("ok");
    expect((await tq.queue.getJob(cancelledId))?.status).toBe("cancelled");
    expect(await tq.queue.retryMany({ status: "cancelled" })).toBe(1);
    await runUntil(tq.clock, async () => (await tq.queue.getJob(cancelledId))?.status === "completed");
  });

  const later = new Date("2030-01-01T00:00:00Z");
  it.each<[string, unknown]>([
    ["a status that is not failed or cancelled", { status: "pending" }],
    ["completed among the statuses", { status: ["failed", "completed"] }],
    ["no status at all", { status: [] }],
    ["a status of the wrong type", { status: 1 }],
    ["an unknown key", { statuses: ["failed"] }],
    ["an invalid date", { finishedAfter: new Date("nope") }],
    ["a date as text", { finishedBefore: "2030-01-01T00:00:00Z" }],
    ["a date before 1970", { finishedAfter: new Date("1960-01-01T00:00:00Z") }],
    ["finishedAfter later than finishedBefore", { finishedAfter: later, finishedBefore: new Date(later.getTime() - 1) }],
    ["a limit of 0", { limit: 0 }],
    ["a limit past the most", { limit: MAX_RETRY_MANY + 1 }],
    ["a fractional limit", { limit: 1.5 }],
    ["an empty type", { type: "" }],
    ["a type with U+0000", { type: "a\u0000b" }],
    ["101 types", { type: Array.from({ length: 101 }, (_, i) => `t${i}`) }],
    ["null", null],
    ["an array", [{ status: "failed" }]],
  ])("refuses %s with a ValidationError and changes nothing", async (_name, filter) => {
    const before = await snapshotStore(tq.queue);
    const error = await tq.queue.retryMany(filter as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueError);
    expect((error as QueueError).code).toBe("VALIDATION");
    expect(await snapshotStore(tq.queue)).toEqual(before);
  });
});

describe("getJobGraph", () => {
  it.each<[string, unknown, string]>([
    ["not a UUID", "job-1", "VALIDATION"],
    ["a number", 42, "VALIDATION"],
    ["an unknown id", "0b5e4d0c-3a59-4c35-9d0a-3f2f5c1e7a11", "JOB_NOT_FOUND"],
  ])("refuses %s", async (_name, id, code) => {
    const error = await tq.queue.getJobGraph(id as string).catch((e: unknown) => e);
    expect((error as QueueError).code).toBe(code);
  });

  it("accepts an id in upper case", async () => {
    const graph = await tq.queue.getJobGraph(failedId.toUpperCase());
    expect(graph.jobs.map((job) => job.id)).toEqual([failedId]);
  });
});
