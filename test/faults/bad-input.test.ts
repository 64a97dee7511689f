import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { z } from "zod";
import { PRIORITIES, Queue, QueueError } from "../../src/index.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { assertNoStack, FRAMEWORKS, request, type RunningApp } from "../adapters/support.js";
import { databaseUrl, describePostgres, dropSchema, freshSchemaName } from "../support/postgres.js";
import { report, size } from "./harness.js";

// Scenario 14: bad input at every public surface, on PostgreSQL (where a malformed id or value that
// slipped through would reach SQL): every answer is a typed error or a 4xx with a code, never a 500,
// a stack trace or a partial insert.

const RUNS = { numRuns: size(60, 1_000) };
/** Codes a caller may be answered with for bad input. STORAGE is not among them: that would be a 500. */
const INPUT_CODES = new Set(["VALIDATION", "DEPENDENCY_CYCLE", "UNKNOWN_DEPENDENCY", "DUPLICATE_JOB", "JOB_NOT_FOUND", "UNKNOWN_JOB_TYPE", "INVALID_STATE", "WAIT_TIMEOUT"]);

const anything = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(undefined, Number.NaN, Infinity, -1, 2 ** 53, "", "\u0000", "'; drop table jobs; --"));
const idLike = fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }), fc.constantFrom("00000000-0000-0000-0000-000000000000", "not-a-uuid", "%00", "../..", "1 or 1=1"), anything);
const hostileOptions = fc.record(
  {
    priority: fc.oneof(fc.constantFrom(...PRIORITIES), anything),
    runAt: fc.oneof(fc.date(), fc.string({ maxLength: 30 }), anything),
    delayMs: anything,
    maxAttempts: fc.oneof(fc.integer({ min: -5, max: 2_000 }), anything),
    timeoutMs: fc.oneof(fc.integer(), anything),
    idempotencyKey: fc.oneof(fc.constantFrom("k1", "k2"), fc.string({ maxLength: 300 }), anything),
    dependsOn: fc.oneof(fc.array(idLike, { maxLength: 3 }), anything),
    resources: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.double(), fc.integer({ min: -10, max: 100 })), { maxKeys: 3 }), anything),
    retry: anything,
    onDuplicate: fc.oneof(fc.constantFrom("reject", "return-existing"), anything),
    tx: fc.constantFrom(undefined, {}, () => undefined),
    extra: anything,
  },
  { requiredKeys: [] },
);
/** Options near the valid shape (to reach the queue's own checks and the store) or hostile ones. */
/** Strings a database may choke on: U+0000 (PostgreSQL stores no NUL), lone surrogates, long ones. */
const awkward = fc.constantFrom("\u0000", "a\u0000b", "\ud800", "\uffff", "é".repeat(100));
const listQueryArb = fc.oneof(
  fc.record(
    {
      status: fc.array(fc.oneof(fc.constantFrom("pending", "completed", "nope"), awkward), { maxLength: 3 }),
      type: fc.array(fc.oneof(fc.constantFrom("fault.free"), awkward, fc.string({ maxLength: 10 })), { maxLength: 3 }),
      limit: fc.oneof(fc.integer({ min: -1, max: 2_000 }), anything),
      cursor: fc.oneof(fc.string({ maxLength: 12 }), awkward, fc.constant("MTIz")),
    },
    { requiredKeys: [] },
  ),
  anything,
);
const optionsArb = fc.oneof(
  fc.record(
    {
      priority: fc.constantFrom(...PRIORITIES),
      maxAttempts: fc.integer({ min: 0, max: 20 }),
      timeoutMs: fc.integer({ min: 0, max: 100_000 }),
      idempotencyKey: fc.oneof(fc.constantFrom("k1", "k2", "k3"), fc.uuid(), fc.uuid(), awkward),
      dependsOn: fc.oneof(fc.constant([]), fc.array(fc.oneof(fc.uuid(), fc.constant("")), { maxLength: 2 })),
      resources: fc.dictionary(fc.oneof(fc.constantFrom("cpu", "memoryMb"), awkward), fc.integer({ min: -1, max: 8 }), { maxKeys: 2 }),
      onDuplicate: fc.constantFrom("reject", "return-existing"),
      runAt: fc.date({ min: new Date(0), max: new Date(4102444800000) }),
    },
    { requiredKeys: [] },
  ),
  hostileOptions,
);
/** Mostly real types (so the rest of the input is what gets judged), sometimes junk. */
const typeArb = fc.oneof(
  { arbitrary: fc.constantFrom("fault.typed", "fault.free"), weight: 4 },
  { arbitrary: fc.oneof(fc.constantFrom("", " ", "x".repeat(300)), fc.string({ maxLength: 20 }), anything), weight: 1 },
);
const keys = fc.constantFrom("a", "b", "c", "d");
const mostly = <T>(good: fc.Arbitrary<T>) => fc.oneof({ arbitrary: good, weight: 5 }, { arbitrary: anything as fc.Arbitrary<unknown>, weight: 1 });
const nearValidNode = fc.record(
  {
    key: mostly(keys),
    type: typeArb,
    payload: mostly(fc.record({ n: fc.integer() })),
    dependsOn: mostly(fc.array(fc.oneof({ arbitrary: keys, weight: 4 }, { arbitrary: idLike, weight: 1 }), { maxLength: 3 })),
    priority: mostly(fc.constantFrom(...PRIORITIES)),
    idempotencyKey: mostly(fc.oneof(fc.constantFrom("k1", "k2"), fc.uuid(), fc.uuid(), fc.uuid())),
    maxAttempts: mostly(fc.integer({ min: 1, max: 3 })),
  },
  { requiredKeys: ["key", "type"] },
);
const hostileNode = fc.record(
  {
    key: fc.oneof(keys, anything),
    type: typeArb,
    payload: fc.oneof(fc.record({ n: fc.integer() }), anything),
    dependsOn: fc.oneof(fc.array(fc.oneof(keys, idLike), { maxLength: 3 }), anything),
    priority: fc.oneof({ arbitrary: fc.constantFrom(...PRIORITIES), weight: 4 }, { arbitrary: anything, weight: 1 }),
    idempotencyKey: fc.oneof({ arbitrary: fc.constantFrom("k1", "k2"), weight: 4 }, { arbitrary: anything, weight: 1 }),
    maxAttempts: fc.oneof(fc.integer({ min: 0, max: 3 }), anything),
  },
  { requiredKeys: ["key", "type"] },
);

let schema: string;
let queue: Queue;
let existing: string;

async function jobCount(): Promise<number> {
  const counts = await queue.metrics();
  return Object.values(counts.jobs.byStatus).reduce((a, b) => a + b, 0);
}

/** Calls `work`: it answers, or throws a QueueError with an input code; anything else fails the property. */
async function typedOrAnswer(work: () => Promise<unknown>): Promise<"ok" | "refused"> {
  try {
    await work();
    return "ok";
  } catch (error) {
    if (process.env.FAULTS_DEBUG === "1") console.log("refused", (error as QueueError).code, (error as Error).message.slice(0, 100));
    if (!(error instanceof QueueError) || !INPUT_CODES.has(error.code)) throw new Error(`untyped failure: ${String((error as Error)?.stack ?? error)}`);
    expect(error.message).not.toMatch(/\n\s+at /);
    return "refused";
  }
}

beforeAll(async () => {
  schema = freshSchemaName();
  queue = new Queue({ storage: new PostgresStorage({ connectionString: databaseUrl, schema, max: 4, listen: false }), capacity: { cpu: 4 } });
  queue.defineHandler("fault.typed", { payload: z.object({ n: z.number() }).strict(), resources: { cpu: 1 }, run: async () => null });
  await queue.migrate();
  existing = (await queue.enqueue("fault.free", { seed: true })).id;
});
afterAll(async () => {
  await queue.shutdown();
  await queue.storage.close();
  await dropSchema(schema);
});

describePostgres("scenario 14: bad input at the library's surface (PostgreSQL)", () => {
  it("enqueue: a job or a typed error, and a refusal stores nothing", async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(typeArb, fc.oneof(fc.record({ n: fc.integer() }), fc.dictionary(awkward, awkward, { maxKeys: 2 }), anything), optionsArb, async (type, payload, options) => {
        const before = await jobCount();
        const outcome = await typedOrAnswer(() => queue.enqueue(type as string, payload, options as never));
        if (outcome === "refused") {
          refused++;
          expect(await jobCount()).toBe(before);
        }
      }),
      RUNS,
    );
    expect(refused).toBeLessThan(RUNS.numRuns);
    report("14 enqueue", { runs: RUNS.numRuns, refused });
  });

  it("enqueueMany: all jobs or none, and a typed error", async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof({ arbitrary: fc.array(nearValidNode, { minLength: 1, maxLength: 6 }), weight: 4 }, { arbitrary: fc.array(hostileNode, { maxLength: 4 }), weight: 1 }, { arbitrary: anything, weight: 1 }), fc.oneof(fc.constant({}), optionsArb, anything), async (nodes, options) => {
        const before = await jobCount();
        let inserted = 0;
        const outcome = await typedOrAnswer(async () => {
          inserted = (await queue.enqueueMany(nodes as never, options as never)).length;
        });
        if (outcome === "refused") refused++;
        // Nodes that name a live key return the existing job: the store grows by at most the batch.
        expect(await jobCount()).toBeLessThanOrEqual(before + inserted);
        if (outcome === "refused") expect(await jobCount()).toBe(before);
      }),
      RUNS,
    );
    report("14 enqueueMany", { runs: RUNS.numRuns, refused });
  });

  it("reads and commands by id, listJobs and waitFor: an answer or a typed error", async () => {
    await fc.assert(
      fc.asyncProperty(idLike, listQueryArb, async (id, query) => {
        await typedOrAnswer(() => queue.getJob(id as string));
        await typedOrAnswer(() => queue.getJobLogs(id as string));
        await typedOrAnswer(() => queue.cancel(id as string));
        await typedOrAnswer(() => queue.retry(id as string));
        await typedOrAnswer(() => queue.listJobs(query as never));
        await typedOrAnswer(() => queue.waitFor(id as string, { timeoutMs: 1 }));
      }),
      RUNS,
    );
    expect(await queue.getJob(existing)).toBeDefined();
  });
});

describePostgres("scenario 14: bad input at every HTTP route (PostgreSQL)", () => {
  const apps: RunningApp[] = [];
  const internalErrors: unknown[] = [];
  afterAll(async () => {
    for (const app of apps) await app.close();
  });

  // Dot segments are resolved by the client before sending ("/jobs/../x" is "/x"): not this router's URL.
// An empty segment ("/jobs//logs") matches no route of the router: the application's 404, not ours.
const segment = fc.oneof(idLike.map((v) => encodeURIComponent(String(v))), fc.constantFrom("%", "%zz", "a%2Fb", "%00")).filter((s) => s !== "." && s !== ".." && s !== "");
  const query = fc.oneof(
    fc.constant(""),
    fc.dictionary(fc.constantFrom("status", "type", "limit", "cursor", "x"), fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom("-1", "0", "1e9", "completed", "%", "abc="))).map((d) => `?${new URLSearchParams(d).toString()}`),
    fc.string({ maxLength: 30 }).map((s) => `?${s}`),
  );
  const body = fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), fc.string({ maxLength: 40 }), fc.constant(undefined));
  const route = fc.oneof(
    fc.tuple(fc.constant("GET"), query).map(([m, q]) => [m, `/jobs${q}`] as const),
    fc.tuple(fc.constantFrom("GET"), segment).map(([m, s]) => [m, `/jobs/${s}`] as const),
    fc.tuple(fc.constantFrom("GET"), segment).map(([m, s]) => [m, `/jobs/${s}/logs`] as const),
    fc.tuple(fc.constantFrom("POST"), segment).map(([m, s]) => [m, `/jobs/${s}/cancel`] as const),
    fc.tuple(fc.constantFrom("POST"), segment).map(([m, s]) => [m, `/jobs/${s}/retry`] as const),
    fc.constantFrom(["GET", "/metrics"] as const, ["GET", "/health"] as const, ["POST", "/jobs"] as const, ["POST", "/jobs/batch"] as const),
  );

  for (const [name, start] of FRAMEWORKS) {
    it(`${name}: every route answers 2xx or a 4xx error body with a code, never a 5xx or a stack`, async () => {
      const app = await start(queue, { onError: (error) => internalErrors.push(error) });
      apps.push(app);
      let fourxx = 0;
      await fc.assert(
        fc.asyncProperty(route, body, async ([method, path], payload) => {
          const res = await request(method, `${app.api}${path}`, method === "GET" ? undefined : payload);
          assertNoStack(res.text);
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400) {
            fourxx++;
            // A URL that does not decode is refused by Fastify's router before any plugin runs: its own
            // body ({ code: "FST_ERR_BAD_URL" }), which the application shapes with Fastify's frameworkErrors.
            const code: unknown = res.json?.error?.code ?? (name === "fastify" ? res.json?.code : undefined);
            expect(typeof code).toBe("string");
            // A request without a body is never told its body is bad.
            if (method === "GET" || payload === undefined) expect(code).not.toBe("MALFORMED_JSON");
          }
        }),
        RUNS,
      );
      expect(internalErrors).toEqual([]);
      report(`14 http ${name}`, { runs: RUNS.numRuns, answered4xx: fourxx, answered5xx: 0 });
    });
  }
});

describePostgres("scenario 14: a handler's log line PostgreSQL cannot store", () => {
  it("is stored with a replacement character, and the lines written with it are kept", async () => {
    const worker = new Queue({ storage: new PostgresStorage({ connectionString: databaseUrl, schema, max: 2, listen: false }), capacity: { cpu: 1 }, pollIntervalMs: 50 });
    worker.defineHandler("fault.logs", {
      run: async (_payload, ctx) => {
        ctx.log("info", "before");
        ctx.log("info", "nul\u0000 and \ud800 half a pair");
        ctx.log("info", "after", { text: "\u0000" });
        return null;
      },
    });
    try {
      await worker.start({ migrate: false });
      const job = await worker.enqueue("fault.logs", {});
      expect((await worker.waitFor(job.id, { timeoutMs: 20_000 })).status).toBe("completed");
      const lines = (await worker.getJobLogs(job.id)).filter((entry) => entry.kind === "log");
      expect(lines.map((line) => line.message)).toEqual(["before", "nul\uFFFD and \uFFFD half a pair", "after"]);
      expect(lines[2]?.data).toMatchObject({ unserializable: expect.stringContaining("U+0000") });
    } finally {
      await worker.shutdown();
      await worker.storage.close();
    }
  });
});
