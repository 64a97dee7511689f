import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { PRIORITIES, Queue } from "../../src/index.js";
import { assertNoStack, FRAMEWORKS, request, StatusClient, type RunningApp } from "./support.js";

const RUNS = { numRuns: 100 };

const jobTypes = fc.oneof(fc.constantFrom("email.send", "report.build", "a b", ""), fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 1 }));
const isoDates = fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
const options = fc.record(
  {
    priority: fc.oneof(fc.constantFrom(...PRIORITIES), fc.jsonValue({ maxDepth: 1 })),
    runAt: fc.oneof(isoDates, fc.string({ maxLength: 30 }), fc.integer()),
    delayMs: fc.oneof(fc.integer(), fc.double()),
    maxAttempts: fc.oneof(fc.integer({ min: -5, max: 2_000 }), fc.string()),
    timeoutMs: fc.oneof(fc.integer(), fc.constant(null)),
    idempotencyKey: fc.oneof(fc.constantFrom("k1", "k2"), fc.string({ maxLength: 300 })),
    dependsOn: fc.oneof(fc.array(fc.oneof(fc.uuid(), fc.string({ maxLength: 10 })), { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
    resources: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.double(), fc.integer({ min: -10, max: 100 })), { maxKeys: 3 }), fc.jsonValue({ maxDepth: 1 })),
    backoff: fc.jsonValue({ maxDepth: 2 }),
    onDuplicate: fc.oneof(fc.constantFrom("reject", "return-existing"), fc.string()),
    extra: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);
/** Bodies near the valid shape (to reach the queue's own checks) and arbitrary JSON (to reach the parser's). */
const jobBodies = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record({ type: jobTypes, payload: fc.jsonValue({ maxDepth: 3 }), options: fc.oneof(options, fc.jsonValue({ maxDepth: 1 })), extra: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: ["type"] }),
);
const keys = fc.constantFrom("a", "b", "c", "d");
const node = fc.record(
  { key: fc.oneof(keys, fc.jsonValue({ maxDepth: 1 })), type: jobTypes, payload: fc.jsonValue({ maxDepth: 2 }), dependsOn: fc.oneof(fc.array(fc.oneof(keys, fc.uuid()), { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })), priority: fc.constantFrom(...PRIORITIES, "nope"), runAt: isoDates },
  { requiredKeys: ["key", "type"] },
);
const batchBodies = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record({ jobs: fc.oneof(fc.array(node, { maxLength: 6 }), fc.jsonValue({ maxDepth: 2 })), onDuplicate: fc.oneof(fc.constantFrom("reject", "return-existing"), fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: ["jobs"] }),
);
const socketMessages = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 50 }),
  fc
    .record({ type: fc.constantFrom("subscribe", "unsubscribe", "ping", ""), jobIds: fc.oneof(fc.array(fc.oneof(fc.uuid(), fc.string({ maxLength: 5 })), { maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })), extra: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: ["type"] })
    .map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes)),
);

/** Jobs in the store, by id and status: what a rejected submission must leave as it was. */
async function storeState(queue: Queue): Promise<string[]> {
  const page = await queue.listJobs({ limit: 1_000 });
  return page.jobs.map((job) => `${job.id}:${job.status}`);
}

describe.each(FRAMEWORKS)("%s adapter under arbitrary input", (_name, start) => {
  let queue: Queue;
  let app: RunningApp;
  const internalErrors: unknown[] = [];

  beforeAll(async () => {
    // Not started: the store changes only through the submissions under test.
    queue = new Queue({ capacity: { cpu: 4 } });
    queue.defineHandler("email.send", { payload: z.object({ to: z.string() }).strict(), resources: { cpu: 1 }, run: async () => null });
    app = await start(queue, { onError: (error) => internalErrors.push(error), statusStream: { maxBadMessages: 1_000 } });
  });
  afterAll(async () => {
    await app.close();
    await queue.shutdown();
  });

  for (const [path, bodies] of [["/jobs", jobBodies], ["/jobs/batch", batchBodies]] as const) {
    it(`POST ${path}: every answer is 201 or a 4xx error body, and a rejection stores nothing`, async () => {
      await fc.assert(
        fc.asyncProperty(bodies as fc.Arbitrary<unknown>, async (body) => {
          const before = await storeState(queue);
          const res = await request("POST", `${app.api}${path}`, JSON.stringify(body));
          assertNoStack(res.text);
          if (res.status === 201) return;
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expect(typeof res.json.error.code).toBe("string");
          expect(typeof res.json.error.message).toBe("string");
          expect(await storeState(queue)).toEqual(before);
        }),
        RUNS,
      );
      expect(internalErrors).toEqual([]);
    });
  }

  it("WebSocket: every message gets one answer (an acknowledgement or an error) and the connection stays open", async () => {
    const client = await StatusClient.connect(app.ws);
    await fc.assert(
      fc.asyncProperty(socketMessages, async (message) => {
        const before = client.messages.length;
        client.socket.send(message);
        const answer = await client.next((m) => client.messages.indexOf(m) >= before, "an answer");
        if (answer.type === "error") {
          expect(typeof answer.error.code).toBe("string");
          assertNoStack(JSON.stringify(answer));
        } else expect(["subscribed", "unsubscribed"]).toContain(answer.type);
      }),
      RUNS,
    );
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    expect((await request("GET", `${app.api}/health`)).status).toBe(200);
    client.close();
  });
});
