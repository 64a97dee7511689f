// A worker process on its own: processes the jobs already enqueued for one system and reports its
// resident memory. Usage: node --import tsx bench/memory-child.ts <system> <jobs> <concurrency>
import { makeSystems } from "./lib/systems.ts";
import { waitAllDone } from "./lib/workloads.ts";

const [name, jobsArg, concurrencyArg] = process.argv.slice(2);
const n = Number(jobsArg);
const concurrency = Number(concurrencyArg ?? 50);
const system = makeSystems([name ?? ""])[0];
if (system === undefined || !Number.isInteger(n) || n <= 0) {
  console.error("usage: memory-child.ts <jobgraph|pg-boss|graphile-worker> <jobs> [concurrency]");
  process.exit(2);
}

let handled = 0;
let peak = 0;
/** The highest RSS seen in each tenth of the jobs processed. */
const byTenth = new Array<number>(10).fill(0);
const sample = () => {
  const rss = process.memoryUsage().rss;
  peak = Math.max(peak, rss);
  const tenth = Math.min(9, Math.floor((handled / n) * 10));
  byTenth[tenth] = Math.max(byTenth[tenth]!, rss);
};
const sampler = setInterval(sample, 50);
const started = Date.now();
await system.startWorker(concurrency, () => {
  handled++;
});
await waitAllDone(system, () => handled, n, 600_000);
sample();
clearInterval(sampler);
await system.stopWorker();
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
console.log(JSON.stringify({ system: system.name, jobs: n, seconds: (Date.now() - started) / 1000, peakMb: mb(peak), byTenthMb: byTenth.map(mb) }));
process.exit(0);
