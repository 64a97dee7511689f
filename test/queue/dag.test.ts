import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { DependencyCycleError, UnknownDependencyError } from "../../src/errors.js";
import type { GraphNodeInput } from "../../src/options.js";
import type { Json } from "../../src/types.js";
import { closeAll, newQueue, runUntil, snapshotStore, untilStatus } from "./support.js";

afterEach(closeAll);

describe("enqueueMany", () => {
  it("keeps each job's dependsOn in the order given, existing jobs and keys of the batch mixed", async () => {
    const tq = newQueue();
    const existing = await tq.queue.enqueue("t", {});
    const [price, post] = await tq.queue.enqueueMany([
      { key: "price", type: "t" },
      { key: "post", type: "t", dependsOn: [existing.id, "price"] },
    ]);
    expect(post?.dependsOn).toEqual([existing.id, price?.id]);
    expect((await tq.queue.getJob(post!.id))?.dependsOn).toEqual([existing.id, price?.id]);
  });

  it("runs fetch -> 3 parallel -> post -> notify in dependency order, passing parent results by id", async () => {
    const tq = newQueue({ concurrency: 5 });
    const log: string[] = [];
    const deps = new Map<string, Record<string, Json | undefined>>();
    const step = (name: string) => async (payload: Json, ctx: { dependencies: Readonly<Record<string, Json | undefined>> }) => {
      const key = (payload as { key: string }).key;
      log.push(`start:${key}`);
      deps.set(key, { ...ctx.dependencies });
      // Different run times, so the parallel jobs finish (and settle) one by one.
      const ms = (payload as { ms?: number }).ms ?? 5;
      await new Promise<void>((resolve) => tq.clock.setTimer(resolve, ms));
      log.push(`finish:${key}`);
      return `${name}:${key}`;
    };
    for (const type of ["rates.fetch", "orders.price", "ledger.post", "notify"]) tq.queue.defineHandler(type, { run: step(type) });
    await tq.queue.start();
    const jobs = await tq.queue.enqueueMany([
      { key: "notify", type: "notify", payload: { key: "notify" }, dependsOn: ["post"] },
      { key: "post", type: "ledger.post", payload: { key: "post" }, dependsOn: ["p1", "p2", "p3"] },
      { key: "p1", type: "orders.price", payload: { key: "p1", ms: 10 }, dependsOn: ["fetch"] },
      { key: "p2", type: "orders.price", payload: { key: "p2", ms: 40 }, dependsOn: ["fetch"] },
      { key: "p3", type: "orders.price", payload: { key: "p3", ms: 25 }, dependsOn: ["fetch"] },
      { key: "fetch", type: "rates.fetch", payload: { key: "fetch" } },
    ]);
    // Input order is kept in the answer.
    expect(jobs.map((j) => (j.payload as { key: string }).key)).toEqual(["notify", "post", "p1", "p2", "p3", "fetch"]);
    const [notify, post, p1, p2, p3, fetch] = jobs.map((j) => j.id) as [string, string, string, string, string, string];
    expect(new Set((await tq.queue.getJob(post))?.dependsOn)).toEqual(new Set([p1, p2, p3]));
    await untilStatus(tq, notify, "completed", { stepMs: 1 });

    const at = (entry: string) => log.indexOf(entry);
    const edges: [string, string][] = [["fetch", "p1"], ["fetch", "p2"], ["fetch", "p3"], ["p1", "post"], ["p2", "post"], ["p3", "post"], ["post", "notify"]];
    for (const [dependency, dependent] of edges) expect(at(`finish:${dependency}`)).toBeLessThan(at(`start:${dependent}`));
    expect(log).toHaveLength(12);
    expect(deps.get("fetch")).toEqual({});
    expect(deps.get("p2")).toEqual({ [fetch]: "rates.fetch:fetch" });
    expect(deps.get("post")).toEqual({ [p1]: "orders.price:p1", [p2]: "orders.price:p2", [p3]: "orders.price:p3" });
    expect(deps.get("notify")).toEqual({ [post]: "ledger.post:post" });
  });

  it("runs the three middle jobs in parallel once fetch completed", async () => {
    const tq = newQueue({ concurrency: 5 });
    let running = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    tq.queue.defineHandler("fetch", { run: () => "f" });
    tq.queue.defineHandler("price", { run: () => new Promise<void>((resolve) => { running++; peak = Math.max(peak, running); gates.push(() => { running--; resolve(); }); }) });
    await tq.queue.start();
    const jobs = await tq.queue.enqueueMany([
      { key: "fetch", type: "fetch" },
      ...["a", "b", "c"].map((key): GraphNodeInput => ({ key, type: "price", dependsOn: ["fetch"] })),
    ]);
    await runUntil(tq.clock, () => gates.length === 3);
    expect(peak).toBe(3);
    gates.forEach((open) => open());
    for (const job of jobs) await untilStatus(tq, job.id, "completed");
  });

  it("accepts a dependsOn naming an existing job id and waits for that job", async () => {
    const tq = newQueue();
    const order: string[] = [];
    tq.queue.defineHandler("first", { run: () => { order.push("first"); return 1; } });
    tq.queue.defineHandler("second", { run: (_p, ctx) => { order.push("second"); return ctx.dependencies; } });
    const existing = await tq.queue.enqueue("first", {});
    const [second] = await tq.queue.enqueueMany([{ key: "s", type: "second", dependsOn: [existing.id] }]);
    expect(second?.status).toBe("blocked");
    expect(second?.dependsOn).toEqual([existing.id]);
    await tq.queue.start();
    const done = await untilStatus(tq, second!.id, "completed");
    expect(order).toEqual(["first", "second"]);
    expect(done.result).toEqual({ [existing.id]: 1 });
  });

  it.each<[string, GraphNodeInput[], string[]]>([
    ["a self-edge", [{ key: "a", type: "t", dependsOn: ["a"] }], ["a", "a"]],
    [
      "a two-node cycle",
      [
        { key: "a", type: "t", dependsOn: ["b"] },
        { key: "b", type: "t", dependsOn: ["a"] },
      ],
      ["a", "b", "a"],
    ],
    [
      "a cycle behind a valid prefix",
      [
        { key: "root", type: "t" },
        { key: "x", type: "t", dependsOn: ["root", "z"] },
        { key: "y", type: "t", dependsOn: ["x"] },
        { key: "z", type: "t", dependsOn: ["y"] },
      ],
      ["x", "z", "y", "x"],
    ],
  ])("rejects %s with DependencyCycleError and stores nothing", async (_name, graph, cycle) => {
    const { queue } = newQueue();
    queue.defineHandler("t", { run: () => null });
    await queue.enqueue("t", { before: true });
    const before = await snapshotStore(queue);
    const error = await queue.enqueueMany(graph).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyCycleError);
    expect((error as DependencyCycleError).code).toBe("DEPENDENCY_CYCLE");
    expect((error as DependencyCycleError).cycle).toEqual(cycle);
    expect(await snapshotStore(queue)).toEqual(before);
  });

  it.each<[string, (existing: string) => GraphNodeInput[]]>([
    ["an unknown key", () => [{ key: "a", type: "t", dependsOn: ["nope"] }]],
    ["an unknown job id", () => [{ key: "a", type: "t", dependsOn: [randomUUID()] }]],
    [
      "an unknown id after valid nodes",
      (existing) => [
        { key: "a", type: "t", dependsOn: [existing] },
        { key: "b", type: "t", dependsOn: ["a", randomUUID()] },
      ],
    ],
  ])("rejects %s with UnknownDependencyError and stores nothing", async (_name, graph) => {
    const { queue } = newQueue();
    queue.defineHandler("t", { run: () => null });
    const existing = await queue.enqueue("t", {});
    const before = await snapshotStore(queue);
    await expect(queue.enqueueMany(graph(existing.id))).rejects.toBeInstanceOf(UnknownDependencyError);
    await expect(queue.enqueueMany(graph(existing.id))).rejects.toMatchObject({ code: "UNKNOWN_DEPENDENCY" });
    expect(await snapshotStore(queue)).toEqual(before);
  });

  it("rejects an unknown dependency id given to enqueue", async () => {
    const { queue } = newQueue();
    const before = await snapshotStore(queue);
    await expect(queue.enqueue("t", {}, { dependsOn: [randomUUID()] })).rejects.toBeInstanceOf(UnknownDependencyError);
    expect(await snapshotStore(queue)).toEqual(before);
  });

  it("accepts a 10,000-node graph", async () => {
    const { queue } = newQueue();
    queue.defineHandler("t", { run: () => null });
    const graph: GraphNodeInput[] = Array.from({ length: 10_000 }, (_, i) => ({
      key: `n${i}`,
      type: "t",
      dependsOn: i === 0 ? [] : [`n${Math.floor((i - 1) / 2)}`],
    }));
    const jobs = await queue.enqueueMany(graph);
    expect(jobs).toHaveLength(10_000);
    expect(jobs[0]?.status).toBe("pending");
    expect(jobs[9_999]?.status).toBe("blocked");
    const counts = (await queue.metrics()).jobs.byStatus;
    expect(counts.pending + counts.blocked).toBe(10_000);
  });
});
