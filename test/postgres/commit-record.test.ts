import type postgres from "postgres";
import { afterEach, expect, it } from "vitest";
import type { JobRecord } from "../../src/types.js";
import { describePostgres, dropSchema, eventually, freshSchemaName } from "../support/postgres.js";
import { heldRowsQueue } from "./support/held-rows-queue.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});


// An attempt's commit builds the completed record from the job as claimed (the executor's copy, taken
// before the handler ran) and what the settle changed, without reading the row back: it must be the
// record the store holds, whatever the handler did to ctx.job.

describePostgres("the completed record of an attempt's commit", () => {
  it.each(["ctx.tx used", "ctx.tx unused"] as const)("job:completed (%s) is the record getJob reads: after a failed attempt, with a dependency, the handler having changed ctx.job", async (mode) => {
    const schema = freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const queue = heldRowsQueue(cleanups, schema);
    const completed = new Map<string, JobRecord>();
    queue.on("job:completed", ({ job }) => completed.set(job.id, structuredClone(job)));
    let runs = 0;
    queue.defineHandler("dep", { run: () => ({ d: 1 }) });
    queue.defineHandler("main", {
      retry: { maxAttempts: 3, backoff: { type: "fixed", baseMs: 10, maxMs: 10, jitter: false } },
      run: async (_payload, ctx) => {
        runs++;
        if (runs === 1) throw new Error("first attempt fails");
        if (mode === "ctx.tx used") {
          const tx = ctx.tx as postgres.Sql;
          await tx`select 1`;
        }
        const job = ctx.job as unknown as { payload: { n: number }; status: string; dependsOn: string[]; attempts: unknown[]; result: unknown; error: unknown };
        job.payload.n = 99;
        job.status = "failed";
        job.dependsOn.push("x");
        job.attempts.length = 0;
        job.result = "mutated";
        job.error = undefined;
        return { ok: true, list: [1, { a: null }], skipped: undefined };
      },
    });
    await queue.migrate();
    const [dep, main] = await queue.enqueueMany([
      { key: "dep", type: "dep", payload: {} },
      { key: "main", type: "main", payload: { n: 1 }, dependsOn: ["dep"] },
    ]);
    await queue.start();
    const event = await eventually(async () => completed.get(main!.id), "main to complete", 20_000);
    const stored = await queue.getJob(main!.id);
    expect(event).toEqual(stored);
    expect(event.attempts).toHaveLength(2);
    expect(event.dependsOn).toEqual([dep!.id]);
    expect(event.payload).toEqual({ n: 1 });
  }, 30_000);
});
