import { afterAll, beforeAll, expect, it } from "vitest";
import { PermanentError } from "../../src/errors.js";
import type { Queue } from "../../src/queue.js";
import type { JobRecord } from "../../src/types.js";
import { PostgresQueues } from "../postgres/support/queues.js";
import { describePostgres } from "../support/postgres.js";
import { assertBuilt, cliEnv, runCli, runCliJson } from "./cli-process.js";

describePostgres("jobgraph jobs graph and jobs redrive on PostgreSQL", () => {
  const queues = new PostgresQueues();
  let env: NodeJS.ProcessEnv;
  let producer: Queue;
  let fetch: JobRecord;
  let price: JobRecord;
  let post: JobRecord;
  let lone: JobRecord;

  beforeAll(async () => {
    assertBuilt();
    env = cliEnv(queues.schema);
    const worker = queues.queue();
    worker.defineHandler("rates.fetch", { run: async () => ({ rate: 1 }) });
    worker.defineHandler("orders.price", { run: async () => Promise.reject(new PermanentError("no price")) });
    worker.defineHandler("ledger.post", { run: async () => null });
    worker.defineHandler("mail.send", { run: async () => Promise.reject(new PermanentError("no mail")) });
    await worker.start();
    // fetch <- price <- post: price fails, so post is cancelled with it.
    [fetch, price, post] = (await worker.enqueueMany([
      { key: "fetch", type: "rates.fetch", payload: {} },
      { key: "price", type: "orders.price", payload: {}, dependsOn: ["fetch"] },
      { key: "post", type: "ledger.post", payload: {}, dependsOn: ["price"] },
    ])) as [JobRecord, JobRecord, JobRecord];
    await worker.waitFor(post.id, { timeoutMs: 20_000 });
    lone = await worker.waitFor((await worker.enqueue("mail.send", {})).id, { timeoutMs: 20_000 });
    await worker.shutdown();
    producer = await queues.producer();
  });

  afterAll(async () => queues.cleanup());

  it("jobs graph prints the connected graph as a tree, the asked-for job marked", async () => {
    const result = await runCli(["jobs", "graph", price.id], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trimEnd().split("\n")).toEqual([
      `${fetch.id.slice(0, 8)}  rates.fetch  completed`,
      `└─ * ${price.id.slice(0, 8)}  orders.price  failed`,
      `   └─ ${post.id.slice(0, 8)}  ledger.post  cancelled`,
    ]);
  });

  it("jobs graph --json prints jobs, edges as [dependent, dependency] and truncated", async () => {
    const graph = await runCliJson<{ jobs: { id: string; status: string }[]; edges: [string, string][]; truncated: boolean }>(["jobs", "graph", post.id], env);
    expect(graph.jobs.map((j) => j.id).sort()).toEqual([fetch.id, price.id, post.id].sort());
    expect(graph.edges.map((e) => e.join(">")).sort()).toEqual([`${post.id}>${price.id}`, `${price.id}>${fetch.id}`].sort());
    expect(graph.truncated).toBe(false);
  });

  it("jobs graph of an unknown job fails with JOB_NOT_FOUND", async () => {
    const result = await runCli(["jobs", "graph", "00000000-0000-4000-8000-000000000000", "--json"], env);
    expect(result.code).toBe(1);
    expect((JSON.parse(result.stderr) as { error: { code: string } }).error.code).toBe("JOB_NOT_FOUND");
  });

  it("jobs redrive retries the failed jobs the filter selects, and says how many", async () => {
    expect(await runCliJson(["jobs", "redrive", "--finished-before", "2000-01-01"], env)).toEqual({ retried: 0 });
    const byType = await runCli(["jobs", "redrive", "--type", "mail.send"], env);
    expect(byType).toMatchObject({ code: 0, stdout: "retried 1 job\n" });
    expect(await producer.getJob(lone.id)).toMatchObject({ status: "pending" });
    expect(await producer.getJob(price.id)).toMatchObject({ status: "failed" });
    // The rest of the failed jobs: price, and its cancelled dependent comes back with it.
    expect(await runCliJson(["jobs", "redrive", "--status", "failed", "--finished-after", "2000-01-01T00:00:00Z"], env)).toEqual({ retried: 1 });
    expect(await producer.getJob(price.id)).toMatchObject({ status: "pending" });
    expect(await producer.getJob(post.id)).toMatchObject({ status: "blocked" });
  });

  it("jobs redrive with finished-after later than finished-before is refused by the queue: a usage error (exit 2)", async () => {
    const result = await runCli(["jobs", "redrive", "--finished-after", "2030-01-01", "--finished-before", "2020-01-01", "--json"], env);
    expect(result.code).toBe(2);
    expect((JSON.parse(result.stderr) as { error: { code: string } }).error.code).toBe("VALIDATION");
  });
});
