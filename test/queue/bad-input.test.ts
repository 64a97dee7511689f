import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { QueueError } from "../../src/errors.js";
import type { QueueErrorCode } from "../../src/errors.js";
import { Queue } from "../../src/queue.js";
import { closeAll, newQueue, snapshotStore, type TestQueue } from "./support.js";

afterEach(closeAll);

const MAX_PAYLOAD_BYTES = 1_024;
const MAX_GRAPH_NODES = 10;
const UUID = "0b5e4d0c-3a59-4c35-9d0a-3f2f5c1e7a11";

/** `depth` arrays, each the only item of the one around it. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function cyclic(): unknown {
  const value: Record<string, unknown> = { a: 1 };
  value.self = { back: value };
  return value;
}

let tq: TestQueue;
let existingId: string;

beforeEach(async () => {
  tq = newQueue({ maxPayloadBytes: MAX_PAYLOAD_BYTES, maxGraphNodes: MAX_GRAPH_NODES });
  tq.queue.defineHandler("known", { run: () => null });
  existingId = (await tq.queue.enqueue("known", { seed: true }, { idempotencyKey: "seed" })).id;
  await tq.queue.enqueueMany([
    { key: "a", type: "known" },
    { key: "b", type: "known", dependsOn: ["a"] },
  ]);
});

/** Runs `call`, expects a QueueError with `code`, and checks the store did not change. */
async function expectRejected(call: () => unknown, code: QueueErrorCode): Promise<void> {
  const before = await snapshotStore(tq.queue);
  let error: unknown;
  try {
    await call();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(QueueError);
  expect((error as QueueError).code).toBe(code);
  expect(await snapshotStore(tq.queue)).toEqual(before);
}

const badPayloads: [string, () => unknown][] = [
  ["a function", () => ({ f: () => 1 })],
  ["a function at the top", () => () => 1],
  ["a BigInt", () => ({ n: 10n })],
  ["a cyclic object", cyclic],
  ["a Symbol", () => ({ s: Symbol("x") })],
  ["NaN", () => ({ n: Number.NaN })],
  ["Infinity", () => [Number.POSITIVE_INFINITY]],
  ["an undefined array item", () => [1, undefined]],
  ["an oversized payload", () => ({ blob: "x".repeat(MAX_PAYLOAD_BYTES + 1) })],
  ["nesting 1,001 deep", () => nested(1_001)],
  ["nesting 2,500 deep", () => nested(2_500)],
  ["nesting 20,000 deep", () => nested(20_000)],
  ["a getter that throws", () => ({ get boom() { throw new Error("getter"); } })],
  ["a toJSON that throws", () => ({ toJSON() { throw new Error("toJSON"); } })],
  ["a Proxy whose traps throw", () => new Proxy({}, { ownKeys() { throw new Error("trap"); } })],
  ["a Proxy array whose length throws", () => new Proxy([], { get() { throw new Error("trap"); } })],
  ["a huge sparse array", () => new Array(1e9)],
];

describe("enqueue with bad input", () => {
  it.each<[string, unknown]>([
    ["a number", 42],
    ["an object without type", {}],
    ["an object whose type is a number", { type: 5 }],
    ["null", null],
    ["an empty string", ""],
    ["a name with spaces", "bad type"],
    ["a 201-character name", "t".repeat(201)],
  ])("rejects a type that is %s", async (_name, type) => {
    await expectRejected(() => tq.queue.enqueue(type as string, {}), "VALIDATION");
  });

  it.each(badPayloads)("rejects a payload with %s", async (_name, payload) => {
    await expectRejected(() => tq.queue.enqueue("known", payload()), "VALIDATION");
    await expectRejected(() => tq.queue.enqueue("remote.type", payload()), "VALIDATION");
  });

  it("accepts a payload nested 1,000 deep, stored as given", async () => {
    const { queue } = newQueue();
    const job = await queue.enqueue("remote.type", nested(1_000));
    expect(JSON.stringify(job.payload)).toBe(JSON.stringify(nested(1_000)));
  });

  it("accepts runAt at the first and last instants every store holds", async () => {
    const { queue } = newQueue();
    for (const runAt of [new Date("1970-01-01T00:00:00Z"), new Date("9999-12-31T00:00:00Z")]) {
      expect((await queue.enqueue("remote.type", {}, { runAt })).runAt).toEqual(runAt);
    }
  });

  it.each<[string, unknown]>([
    ["options that are a string", "fast"],
    ["options that are null", null],
    ["an unknown option key", { priorty: "high" }],
    ["an unknown priority", { priority: "urgent" }],
    ["dependsOn that is not an array", { dependsOn: UUID }],
    ["dependsOn with a non-UUID", { dependsOn: ["not-a-uuid"] }],
    ["dependsOn with a number", { dependsOn: [42] }],
    ["a numeric idempotencyKey", { idempotencyKey: 5 }],
    ["an empty idempotencyKey", { idempotencyKey: "" }],
    ["runAt as a string", { runAt: "2026-01-01T00:00:00Z" }],
    ["runAt as a number", { runAt: 1_767_225_600_000 }],
    ["an invalid runAt date", { runAt: new Date("not a date") }],
    ["runAt at the end of JS time", { runAt: new Date(8.64e15) }],
    ["runAt in year 10000", { runAt: new Date("+010000-01-01T00:00:00Z") }],
    ["runAt in year 0", { runAt: new Date("0000-06-01T00:00:00Z") }],
    ["runAt in year 0 once its offset is applied", { runAt: new Date("0001-01-01T00:00:00+23:59") }],
    ["runAt before JS time begins", { runAt: new Date(-8.64e15) }],
    ["runAt in year 1, which PostgreSQL holds but reads back as 2001", { runAt: new Date("0001-01-01T00:00:00Z") }],
    ["runAt a millisecond before 1970", { runAt: new Date(-1) }],
    ["runAt on the last day of year 9999 past midnight UTC", { runAt: new Date("9999-12-31T00:00:00.001Z") }],
    ["a negative delayMs", { delayMs: -1 }],
    ["a NaN delayMs", { delayMs: Number.NaN }],
    ["an Infinity delayMs", { delayMs: Number.POSITIVE_INFINITY }],
    ["maxAttempts 0", { maxAttempts: 0 }],
    ["a fractional maxAttempts", { maxAttempts: 1.5 }],
    ["a negative timeoutMs", { timeoutMs: -1 }],
    ["an Infinity timeoutMs", { timeoutMs: Number.POSITIVE_INFINITY }],
    ["negative resources", { resources: { cpu: -1 } }],
    ["NaN resources", { resources: { cpu: Number.NaN } }],
    ["resources that are a string", { resources: "cpu" }],
    ["an unknown onDuplicate", { onDuplicate: "ignore" }],
    ["an unknown backoff type", { backoff: { type: "linear" } }],
    ["a negative backoff baseMs", { backoff: { baseMs: -5 } }],
  ])("rejects %s", async (_name, options) => {
    await expectRejected(() => tq.queue.enqueue("known", {}, options as never), "VALIDATION");
  });

  it("rejects a dependency that does not exist, storing nothing", async () => {
    await expectRejected(() => tq.queue.enqueue("known", {}, { dependsOn: [UUID] }), "UNKNOWN_DEPENDENCY");
  });

  it("rejects a live idempotency key, storing nothing", async () => {
    await expectRejected(() => tq.queue.enqueue("known", {}, { idempotencyKey: "seed" }), "DUPLICATE_JOB");
  });
});

describe("enqueueMany with bad input", () => {
  const oversizedGraph = Array.from({ length: MAX_GRAPH_NODES + 1 }, (_, i) => ({ key: `n${i}`, type: "known" }));

  it.each<[string, unknown, QueueErrorCode]>([
    ["not an array", { key: "a", type: "known" }, "VALIDATION"],
    ["an empty array", [], "VALIDATION"],
    ["a node without key", [{ type: "known" }], "VALIDATION"],
    ["a node whose key is a number", [{ key: 1, type: "known" }], "VALIDATION"],
    ["a node whose type is an object", [{ key: "a", type: { name: "known" } }], "VALIDATION"],
    ["a node with a bad type name", [{ key: "a", type: "no spaces allowed" }], "VALIDATION"],
    ["a node with an unknown option", [{ key: "a", type: "known", retries: 3 }], "VALIDATION"],
    ["a node with tx", [{ key: "a", type: "known", tx: {} }], "VALIDATION"],
    ["a node whose dependsOn holds a number", [{ key: "a", type: "known", dependsOn: [7] }], "VALIDATION"],
    ["duplicate keys", [{ key: "a", type: "known" }, { key: "a", type: "known" }], "VALIDATION"],
    ["a node with a NaN delayMs", [{ key: "a", type: "known", delayMs: Number.NaN }], "VALIDATION"],
    ["a node with an invalid runAt", [{ key: "a", type: "known", runAt: new Date(Number.NaN) }], "VALIDATION"],
    ["a node with runAt past year 9999", [{ key: "a", type: "known", runAt: new Date(8.64e15) }], "VALIDATION"],
    ["more nodes than maxGraphNodes", oversizedGraph, "VALIDATION"],
    ["a later node with a bad payload", [{ key: "a", type: "known" }, { key: "b", type: "known", payload: { f: () => 1 } }], "VALIDATION"],
    ["a cycle", [{ key: "a", type: "known", dependsOn: ["b"] }, { key: "b", type: "known", dependsOn: ["a"] }], "DEPENDENCY_CYCLE"],
    ["an unknown reference", [{ key: "a", type: "known", dependsOn: ["zzz"] }], "UNKNOWN_DEPENDENCY"],
    ["a live key on the last node", [{ key: "a", type: "known" }, { key: "b", type: "known", idempotencyKey: "seed" }], "DUPLICATE_JOB"],
  ])("rejects %s", async (_name, graph, code) => {
    await expectRejected(() => tq.queue.enqueueMany(graph as never), code);
  });

  it.each(badPayloads)("rejects a node payload with %s", async (_name, payload) => {
    await expectRejected(() => tq.queue.enqueueMany([{ key: "ok", type: "known" }, { key: "bad", type: "known", payload: payload() }]), "VALIDATION");
  });

  it.each<[string, unknown]>([
    ["an unknown key", { onDuplicate: "reject", extra: 1 }],
    ["a bad onDuplicate", { onDuplicate: 1 }],
    ["a string", "reject"],
  ])("rejects options with %s", async (_name, options) => {
    await expectRejected(() => tq.queue.enqueueMany([{ key: "a", type: "known" }], options as never), "VALIDATION");
  });
});

describe("job ids", () => {
  const methods: [string, (id: unknown) => Promise<unknown>][] = [
    ["cancel", (id) => tq.queue.cancel(id as string)],
    ["retry", (id) => tq.queue.retry(id as string)],
    ["getJob", (id) => tq.queue.getJob(id as string)],
    ["getJobLogs", (id) => tq.queue.getJobLogs(id as string)],
    ["waitFor", (id) => tq.queue.waitFor(id as string)],
  ];
  const badIds: [string, unknown][] = [
    ["a number", 42],
    ["a non-UUID string", "job-1"],
    ["an empty string", ""],
    ["an object", { id: UUID }],
    ["null", null],
    ["undefined", undefined],
    ["a UUID with trailing text", `${UUID}x`],
  ];
  const table = methods.flatMap(([method, call]) => badIds.map(([what, id]) => [method, what, call, id] as const));

  it.each(table)("%s rejects %s as an id", async (_method, _what, call, id) => {
    await expectRejected(() => call(id), "VALIDATION");
  });

  it.each([
    ["cancel", () => tq.queue.cancel(UUID)],
    ["retry", () => tq.queue.retry(UUID)],
    ["getJobLogs", () => tq.queue.getJobLogs(UUID)],
  ])("%s of an unknown id throws JOB_NOT_FOUND", async (_method, call) => {
    await expectRejected(call, "JOB_NOT_FOUND");
  });

  it("retry of a live job throws INVALID_STATE and changes nothing", async () => {
    await expectRejected(() => tq.queue.retry(existingId), "INVALID_STATE");
  });
});

describe("listJobs, waitFor, start with bad options", () => {
  it.each<[string, unknown]>([
    ["an unknown status", { status: ["done"] }],
    ["a status that is no status (one value is taken as well as a list)", { status: "done" }],
    ["a type that is neither a string nor a list", { type: 5 }],
    ["limit 0", { limit: 0 }],
    ["a negative limit", { limit: -1 }],
    ["a NaN limit", { limit: Number.NaN }],
    ["an Infinity limit", { limit: Number.POSITIVE_INFINITY }],
    ["a fractional limit", { limit: 1.5 }],
    ["a numeric cursor", { cursor: 5 }],
    ["a cursor that listJobs never made", { cursor: "not a cursor!" }],
    ["maxBytes 0", { maxBytes: 0 }],
    ["a fractional maxBytes", { maxBytes: 1.5 }],
    ["an unknown key", { sort: "asc" }],
    ["a string", "pending"],
  ])("listJobs rejects %s", async (_name, query) => {
    await expectRejected(() => tq.queue.listJobs(query as never), "VALIDATION");
  });

  it.each<[string, unknown]>([
    ["a negative timeout", { timeoutMs: -1 }],
    ["a NaN timeout", { timeoutMs: Number.NaN }],
    ["an Infinity timeout", { timeoutMs: Number.POSITIVE_INFINITY }],
    ["a string timeout", { timeoutMs: "5s" }],
    ["an unknown key", { timeout: 5 }],
  ])("waitFor rejects %s", async (_name, options) => {
    await expectRejected(() => tq.queue.waitFor(existingId, options as never), "VALIDATION");
  });

  it.each<[string, unknown]>([
    ["an unknown key", { migrations: false }],
    ["a non-boolean migrate", { migrate: "no" }],
  ])("start rejects %s", async (_name, options) => {
    await expectRejected(() => tq.queue.start(options as never), "VALIDATION");
    await tq.clock.advance(1_000);
    expect((await tq.queue.getJob(existingId))?.status).toBe("pending");
  });
});

describe("defineHandler and new Queue with bad input", () => {
  it.each<[string, unknown]>([
    ["a number", 7],
    ["an object", { type: "known" }],
    ["undefined", undefined],
  ])("defineHandler rejects a type that is %s", async (_name, type) => {
    await expectRejected(() => tq.queue.defineHandler(type as string, { run: () => null }), "VALIDATION");
  });

  it.each<[string, unknown]>([
    ["a string", "fast"],
    ["an unknown key", { concurency: 2 }],
    ["concurrency 0", { concurrency: 0 }],
    ["a negative concurrency", { concurrency: -1 }],
    ["a NaN leaseMs", { leaseMs: Number.NaN }],
    ["an Infinity pollIntervalMs", { pollIntervalMs: Number.POSITIVE_INFINITY }],
    ["a negative shutdownGraceMs", { shutdownGraceMs: -1 }],
    ["a negative capacity", { capacity: { cpu: -1 } }],
    ["a NaN capacity", { capacity: { cpu: Number.NaN } }],
    ["a storage that is not one", { storage: {} }],
    ["a clock that is not one", { clock: { now: 5 } }],
    ["maxPayloadBytes 0", { maxPayloadBytes: 0 }],
    ["a fractional maxGraphNodes", { maxGraphNodes: 2.5 }],
  ])("new Queue rejects %s", (_name, options) => {
    let error: unknown;
    try {
      new Queue(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(QueueError);
    expect((error as QueueError).code).toBe("VALIDATION");
  });
});
