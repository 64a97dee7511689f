/**
 * A payments workflow on jobgraph: fetch FX rates, price orders in parallel under a CPU budget,
 * post to the ledger, then notify. One pricing job fails once and is retried. Runs on the embedded
 * MemoryStorage, or on PostgreSQL when DATABASE_URL is set.
 *
 *   npm run demo
 */
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { Queue, type JobRecord, type Storage } from "jobgraph";
import { renderBoard, renderSummary } from "./demo-display.js";

async function openStorage(): Promise<{ storage: Storage | undefined; label: string }> {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === "") return { storage: undefined, label: "MemoryStorage (embedded, no server)" };
  const { PostgresStorage } = await import("jobgraph/postgres");
  return { storage: new PostgresStorage({ connectionString: url, schema: "jobgraph_demo" }), label: `PostgresStorage (${new URL(url).host}, schema jobgraph_demo)` };
}

const { storage, label } = await openStorage();
const queue = new Queue({ ...(storage === undefined ? {} : { storage }), capacity: { cpu: 2, memoryMb: 1024 }, concurrency: 4, pollIntervalMs: 200 });

const work = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal });
let flakyFailures = 0;

const fetchRates = queue.defineHandler("rates.fetch", {
  priority: "high",
  payload: z.object({ currencies: z.array(z.string()) }),
  run: async ({ currencies }, ctx) => {
    await work(300, ctx.signal);
    ctx.log("info", "rates fetched", { currencies });
    return Object.fromEntries(currencies.map((c, i) => [c, 1 + i / 10]));
  },
});

const priceOrder = queue.defineHandler("orders.price", {
  payload: z.object({ orderId: z.string(), amount: z.number(), currency: z.string() }),
  resources: { cpu: 1, memoryMb: 256 },
  retry: { maxAttempts: 3, backoff: { baseMs: 200, maxMs: 1_000, jitter: false } },
  run: async (order, ctx) => {
    const rates = Object.values(ctx.dependencies)[0] as Record<string, number>;
    await work(400 + Math.round(Math.random() * 300), ctx.signal);
    if (order.orderId === "o-3" && flakyFailures++ === 0) throw new Error("pricing service timed out (first try)");
    const priced = Math.round(order.amount * (rates[order.currency] ?? 1) * 100) / 100;
    ctx.log("info", "priced", { orderId: order.orderId, priced });
    return { orderId: order.orderId, priced };
  },
});

const postLedger = queue.defineHandler("ledger.post", {
  priority: "critical",
  run: async (_payload: unknown, ctx) => {
    await work(300, ctx.signal);
    const total = Object.values(ctx.dependencies).reduce((sum: number, r) => sum + ((r as { priced?: number } | undefined)?.priced ?? 0), 0);
    const rounded = Math.round(total * 100) / 100;
    ctx.log("info", "posted to ledger", { total: rounded });
    return { total: rounded };
  },
});

queue.defineHandler("customer.notify", {
  priority: "low",
  run: async (_payload: unknown, ctx) => {
    await work(150, ctx.signal);
    return { sent: true };
  },
});

queue.defineHandler("reports.nightly", {
  priority: "low",
  resources: { cpu: 1, memoryMb: 512 },
  run: async (_payload: unknown, ctx) => {
    await work(500, ctx.signal);
    return { rows: 1000 };
  },
});

const interactive = process.stdout.isTTY === true;
const names = new Map<string, string>();
const name = (job: JobRecord) => names.get(job.id) ?? job.type;
if (!interactive) {
  queue.on("job:started", ({ job, attempt }) => console.log(`started   ${name(job)} (attempt ${attempt})`));
  queue.on("job:retrying", ({ job, error }) => console.log(`retrying  ${name(job)}: ${error.message}`));
  queue.on("job:completed", ({ job }) => console.log(`completed ${name(job)}`));
}


await queue.migrate(); // PostgreSQL: create the schema before the first enqueue

const orders = [
  { orderId: "o-1", amount: 120, currency: "EUR" },
  { orderId: "o-2", amount: 75.5, currency: "GBP" },
  { orderId: "o-3", amount: 310, currency: "EUR" },
  { orderId: "o-4", amount: 42, currency: "CHF" },
];
const graph = await queue.enqueueMany([
  { key: "rates", type: fetchRates.type, payload: { currencies: ["EUR", "GBP", "CHF"] } },
  ...orders.map((o) => ({ key: o.orderId, type: priceOrder.type, payload: o, dependsOn: ["rates"] })),
  { key: "ledger", type: postLedger.type, payload: { batch: "2026-11-28" }, dependsOn: orders.map((o) => o.orderId) },
  { key: "notify", type: "customer.notify", payload: { channel: "email" }, dependsOn: ["ledger"] },
]);
const reports = await Promise.all([1, 2].map((n) => queue.enqueue("reports.nightly", { n })));
for (const [id, title] of [
  ...graph.map((job, i): [string, string] => [job.id, ["rates.fetch", ...orders.map((o) => `orders.price ${o.orderId}`), "ledger.post", "customer.notify"][i] ?? job.type]),
  ...reports.map((job, i): [string, string] => [job.id, `reports.nightly #${i + 1}`]),
]) names.set(id, title);
const ids = [...names.keys()];
console.log(`jobgraph demo on ${label}: capacity cpu 2 / 1024 MB, concurrency 4\n`);
await queue.start();

const snapshot = async (): Promise<JobRecord[]> => (await Promise.all(ids.map((id) => queue.getJob(id)))).filter((j): j is JobRecord => j !== undefined);
let lines = 0;
const draw = async () => {
  const board = renderBoard(await snapshot(), names, await queue.metrics());
  if (lines > 0) process.stdout.write(`\x1b[${lines}A\x1b[0J`);
  process.stdout.write(board);
  lines = board.split("\n").length - 1;
};
const timer = interactive ? setInterval(() => void draw(), 100) : undefined;
await Promise.all(ids.map((id) => queue.waitFor(id, { timeoutMs: 60_000 })));
clearInterval(timer);
if (interactive) await draw();

const final = await snapshot();
console.log(`\n${renderSummary(final, names)}`);
const notifyLogs = await queue.getJobLogs(graph[graph.length - 2]?.id ?? "");
console.log(`\nhistory of ledger.post:\n${notifyLogs.map((l) => `  #${l.seq} attempt ${l.attempt} ${l.kind.padEnd(6)} ${l.message}${l.data === undefined ? "" : ` ${JSON.stringify(l.data)}`}`).join("\n")}`);
await queue.shutdown();
await storage?.close(); // a store passed to the queue is closed by its owner
const failed = final.filter((j) => j.status !== "completed");
if (failed.length > 0) {
  console.error(`${failed.length} job(s) did not complete`);
  process.exitCode = 1;
}
