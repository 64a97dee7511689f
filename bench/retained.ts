// Claim + settle throughput of the store with many finished jobs retained in the table, against an
// empty table: the same loop as claim-settle.ts, rounds interleaved (empty, retained, empty, ...).
//   node --import tsx bench/retained.ts [--retained 1000000] [--jobs 20000] [--batch 50] [--rounds 3]
import { ensureDatabase, urlFor } from "./lib/db.ts";
import { claimSettleLoop, type ClaimSettleRun } from "./lib/claim-settle-loop.ts";
import { commandLine, parseCommandLine, wholeNumber } from "./lib/args.ts";

const usage = "node --import tsx bench/retained.ts [--retained 1000000] [--jobs 20000] [--batch 50] [--rounds 3]";
const options = { retained: { type: "string" }, jobs: { type: "string" }, batch: { type: "string" }, rounds: { type: "string" } } as const;
const args = commandLine((argv) => {
  const { values } = parseCommandLine(argv, usage, options);
  return {
    retained: wholeNumber(values.retained, "retained", 1_000_000, usage),
    jobs: wholeNumber(values.jobs, "jobs", 20_000, usage),
    batch: wholeNumber(values.batch, "batch", 50, usage),
    rounds: wholeNumber(values.rounds, "rounds", 3, usage),
  };
});

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const database = "jobgraph_bench_profile";
await ensureDatabase(database);
const url = urlFor(database);
const runs: { empty: ClaimSettleRun[]; retained: ClaimSettleRun[] } = { empty: [], retained: [] };
for (let round = 1; round <= args.rounds; round++) {
  for (const retained of [0, args.retained]) {
    const run = await claimSettleLoop(url, { jobs: args.jobs, batch: args.batch, retained });
    (retained === 0 ? runs.empty : runs.retained).push(run);
    console.log(JSON.stringify({ round, ...run }));
  }
}
const empty = median(runs.empty.map((r) => r.jobsPerSecond));
const kept = median(runs.retained.map((r) => r.jobsPerSecond));
console.log(`claim + settle, ${args.jobs} jobs ${args.batch} a batch, median of ${args.rounds}: empty table ${empty} jobs/s, ` +
  `${args.retained.toLocaleString("en")} finished jobs retained ${kept} jobs/s, retained/empty ${(kept / empty).toFixed(2)}`);
