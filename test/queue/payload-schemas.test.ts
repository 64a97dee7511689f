import type { StandardSchemaV1 } from "@standard-schema/spec";
import * as v from "valibot";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { z as z3 } from "zod3";
import { ValidationError } from "../../src/errors.js";
import type { HandlerRef, JobContext } from "../../src/handler.js";
import type { Json } from "../../src/types.js";
import { closeAll, newQueue, untilStatus } from "./support.js";

afterEach(closeAll);

/** The input every library's schema below takes, and the output its handler gets. */
interface OrderIn {
  readonly batchId: string;
  readonly items: readonly { readonly sku: string }[];
  readonly copies?: number | undefined;
}
interface OrderOut {
  readonly batchId: string;
  readonly items: readonly { readonly sku: string }[];
  readonly copies: number;
}

// One schema, written in each library: a default (`copies`) makes the input differ from the output.
const schemas = {
  "zod 4": z.object({ batchId: z.string(), items: z.array(z.object({ sku: z.string() })), copies: z.number().default(1) }),
  "zod 3": z3.object({ batchId: z3.string(), items: z3.array(z3.object({ sku: z3.string() })), copies: z3.number().default(1) }),
  valibot: v.object({ batchId: v.string(), items: v.array(v.object({ sku: v.string() })), copies: v.optional(v.number(), 1) }),
};

/** The same handler for every library: the payload it gets has the default applied. */
const summarize = (order: OrderOut, ctx: JobContext) => ({ batch: order.batchId, skus: order.items.map((i) => i.sku), copies: order.copies, attempt: ctx.attempt });

/** A Standard Schema written by hand: `validate` is whatever the test needs. */
function handMade(validate: (value: unknown) => StandardSchemaV1.Result<{ id: string }> | Promise<StandardSchemaV1.Result<{ id: string }>>): StandardSchemaV1<{ id: string }> {
  return { "~standard": { version: 1, vendor: "test", validate } };
}

describe.each(Object.entries(schemas))("a payload schema from %s", (_library, schema) => {
  it("runs the handler with the schema's output and stores the payload as sent", async () => {
    const tq = newQueue();
    const ref = tq.queue.defineHandler("order.summarize", { payload: schema, run: summarize });
    await tq.queue.start();
    const job = await tq.queue.enqueue(ref, { batchId: "b-1", items: [{ sku: "a" }, { sku: "b" }] });
    expect(job.payload).toEqual({ batchId: "b-1", items: [{ sku: "a" }, { sku: "b" }] });
    const done = await untilStatus(tq, job.id, "completed");
    expect(done.result).toEqual({ batch: "b-1", skus: ["a", "b"], copies: 1, attempt: 1 });
  });

  it("rejects a payload at enqueue with a ValidationError naming each issue's path, and stores nothing", async () => {
    const { queue } = newQueue();
    const ref = queue.defineHandler("order.summarize", { payload: schema, run: summarize });
    const error = await queue.enqueue(ref, { batchId: 7, items: [{ sku: "a" }, { sku: 8 }] } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    const issues = (error as ValidationError).issues;
    expect(issues.map((i) => i.path).sort()).toEqual(["payload.batchId", "payload.items.1.sku"]);
    for (const issue of issues) expect(issue.message).not.toBe("");
    expect((error as ValidationError).message).toContain("payload.items.1.sku");
    // In a graph, the path names the node.
    const inGraph = await queue
      .enqueueMany([
        { key: "ok", type: "order.summarize", payload: { batchId: "a", items: [] } },
        { key: "bad", type: "order.summarize", payload: { batchId: "b", items: [{ sku: 1 }] } },
      ])
      .catch((e: unknown) => e);
    expect((inGraph as ValidationError).issues.map((i) => i.path)).toEqual(["[1].payload.items.0.sku"]);
    expect((await queue.listJobs()).jobs).toHaveLength(0);
  });

  it("validates again at run: a payload stored by a process without the handler fails without retries", async () => {
    const producer = newQueue();
    const bad = await producer.queue.enqueue("order.summarize", { batchId: "b-2", items: [{ sku: 3 }] });
    const good = await producer.queue.enqueue("order.summarize", { batchId: "b-3", items: [], copies: 2 });
    const worker = newQueue({ storage: producer.storage, clock: producer.clock });
    worker.queue.defineHandler("order.summarize", { payload: schema, retry: { maxAttempts: 3 }, run: summarize });
    await worker.queue.start();
    const failed = await untilStatus(worker, bad.id, "failed");
    expect(failed.error).toMatchObject({ code: "VALIDATION" });
    expect(failed.error?.message).toContain("payload.items.0.sku");
    expect(failed.attempt).toBe(1);
    expect((await untilStatus(worker, good.id, "completed")).result).toEqual({ batch: "b-3", skus: [], copies: 2, attempt: 1 });
  });
});

describe("asynchronous and broken schemas", () => {
  it("awaits an async validate at enqueue and at run", async () => {
    const tq = newQueue();
    const schema = handMade(async (value) => {
      await Promise.resolve();
      const id = (value as { id?: unknown } | null)?.id;
      return typeof id === "string" ? { value: { id: id.toUpperCase() } } : { issues: [{ message: "id must be a string", path: [{ key: "id" }] }] };
    });
    const ref = tq.queue.defineHandler("async.schema", { payload: schema, run: (p) => p.id });
    await tq.queue.start();
    await expect(tq.queue.enqueue(ref, { id: 1 } as never)).rejects.toMatchObject({ code: "VALIDATION", issues: [{ path: "payload.id", message: "id must be a string" }] });
    const job = await tq.queue.enqueue(ref, { id: "abc" });
    expect((await untilStatus(tq, job.id, "completed")).result).toBe("ABC");
  });

  it("awaits zod 4's async refinements", async () => {
    const tq = newQueue();
    const schema = z.object({ name: z.string() }).refine(async (p) => p.name !== "taken", { message: "name taken", path: ["name"] });
    const ref = tq.queue.defineHandler("async.zod", { payload: schema, run: (p) => p.name });
    await tq.queue.start();
    await expect(tq.queue.enqueue(ref, { name: "taken" })).rejects.toMatchObject({ issues: [{ path: "payload.name", message: "name taken" }] });
    const job = await tq.queue.enqueue(ref, { name: "free" });
    expect((await untilStatus(tq, job.id, "completed")).result).toBe("free");
  });

  it.each([
    ["throws", () => { throw new Error("schema bug"); }],
    ["rejects", () => Promise.reject(new Error("schema bug"))],
    ["answers no result", () => undefined as never],
  ])("turns a validate that %s into a ValidationError at enqueue and a failed job at run", async (_name, validate) => {
    const producer = newQueue();
    const stored = await producer.queue.enqueue("broken.schema", { id: "x" });
    const tq = newQueue({ storage: producer.storage, clock: producer.clock });
    const ref = tq.queue.defineHandler("broken.schema", { payload: handMade(validate), retry: { maxAttempts: 3 }, run: () => "ran" });
    tq.queue.defineHandler("healthy", { run: () => "fine" });
    const error = await tq.queue.enqueue(ref, { id: "y" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([{ path: "payload", message: expect.any(String) }]);
    await tq.queue.start();
    const failed = await untilStatus(tq, stored.id, "failed");
    expect(failed.error?.code).toBe("VALIDATION");
    expect(failed.attempt).toBe(1);
    // The worker lives on.
    const after = await tq.queue.enqueue("healthy", {});
    expect((await untilStatus(tq, after.id, "completed")).result).toBe("fine");
  });
});

describe("types", () => {
  it("enqueue takes the schema's input type; the handler gets its output type", async () => {
    const { queue } = newQueue();
    const withDefault = queue.defineHandler("typed.default", {
      payload: z.object({ n: z.number().default(1) }),
      run: (p) => {
        expectTypeOf(p).toEqualTypeOf<{ n: number }>();
        return p.n;
      },
    });
    expectTypeOf(withDefault).toEqualTypeOf<HandlerRef<{ n?: number | undefined }, number>>();
    await queue.enqueue(withDefault, {});
    // @ts-expect-error n is a number
    await queue.enqueue(withDefault, { n: "1" }).catch(() => undefined);

    const transformed = queue.defineHandler("typed.transform", {
      payload: v.pipe(v.string(), v.transform((s) => s.length)),
      run: (p) => {
        expectTypeOf(p).toEqualTypeOf<number>();
        return p;
      },
    });
    expectTypeOf(transformed).toEqualTypeOf<HandlerRef<string, number>>();

    const fromZod3 = queue.defineHandler("typed.zod3", { payload: schemas["zod 3"], run: summarize });
    expectTypeOf<Parameters<typeof queue.enqueue<OrderIn, ReturnType<typeof summarize>>>[1]>().toEqualTypeOf<OrderIn>();
    expectTypeOf(fromZod3).toMatchTypeOf<HandlerRef<OrderIn, ReturnType<typeof summarize>>>();
    await queue.enqueue(fromZod3, { batchId: "b", items: [] });
    type Zod4OrValibot = (typeof schemas)["zod 4"] | (typeof schemas)["valibot"];
    expectTypeOf<StandardSchemaV1.InferInput<Zod4OrValibot>>().toMatchTypeOf<OrderIn>();
    expectTypeOf<StandardSchemaV1.InferOutput<Zod4OrValibot>>().toMatchTypeOf<OrderOut>();

    // Without a schema, enqueue takes what run declares, and Json by default.
    const declared = queue.defineHandler("typed.declared", { run: (p: { a: number }) => p.a });
    expectTypeOf(declared).toEqualTypeOf<HandlerRef<{ a: number }, number>>();
    const untyped = queue.defineHandler("typed.untyped", { run: () => null });
    expectTypeOf(untyped).toEqualTypeOf<HandlerRef<Json, null>>();
  });
});
