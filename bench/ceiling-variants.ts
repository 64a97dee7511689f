// What each part of jobgraph's schema costs the database, with no client in the way: pgbench's
// claim + complete of 50 jobs a statement on 4 clients, on jobgraph's own tables with parts dropped
// (lib/schema-variants.ts) and without the attempt entries; 3 runs each, interleaved, medians.
//   node --import tsx bench/ceiling-variants.ts [--quick]
import { commandLine, parseCommandLine } from "./lib/args.ts";
import { CEILING_CASES, DELETE_CASE, NO_HISTORY_CASE, ONE_COMMIT_CASE, findPgbench, runCeiling, type CeilingCase } from "./lib/pgbench.ts";

const { quick } = commandLine((argv) => parseCommandLine(argv, "node --import tsx bench/ceiling-variants.ts [--quick]", { quick: { type: "boolean", default: false } }).values);
const pgbench = findPgbench();
if (pgbench === undefined) throw new Error("pgbench not found");
const withHistory = CEILING_CASES.find((c) => c.key === "claim50-jg-c4");
const minimal = CEILING_CASES.find((c) => c.key === "claim50-c4");
if (withHistory === undefined || minimal === undefined) throw new Error("ceiling cases missing");

const runs: { name: string; c: CeilingCase; variants: string[] }[] = [
  { name: "jobgraph's schema, history in the row (as migrated)", c: withHistory, variants: [] },
  { name: "  without the partial listing indexes", c: withHistory, variants: ["noidx"] },
  { name: "  without the index on seq (listing pages)", c: withHistory, variants: ["noseqidx"] },
  { name: "  the index on seq only for pending and completed jobs", c: withHistory, variants: ["partialseq"] },
  { name: "  without the retention index on finished jobs", c: withHistory, variants: ["nofinishedidx"] },
  { name: "  one commit a batch: the previous batch's completion and the next claim together", c: ONE_COMMIT_CASE, variants: [] },
  { name: "  the completion as a delete (a delete-on-complete mode)", c: DELETE_CASE, variants: [] },
  { name: "jobgraph's schema, no attempt entries", c: NO_HISTORY_CASE, variants: [] },
  { name: "  and without the partial listing indexes", c: NO_HISTORY_CASE, variants: ["noidx"] },
  { name: "minimal one-table queue (setup.sql)", c: minimal, variants: [] },
];
const results = new Map<string, number[]>();
for (let round = 0; round < 3; round++) {
  for (const run of runs) {
    const jobsPerSecond = await runCeiling(pgbench, run.c, quick, run.variants);
    results.set(run.name, [...(results.get(run.name) ?? []), jobsPerSecond]);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
console.log("| claim + complete, 50 rows/stmt, 4 clients | jobs/s (median of 3; min–max) |\n|---|---|");
for (const run of runs) {
  const xs = results.get(run.name)!;
  console.log(`| ${run.name} | ${Math.round(median(xs)).toLocaleString("en")} (${Math.round(Math.min(...xs)).toLocaleString("en")}–${Math.round(Math.max(...xs)).toLocaleString("en")}) |`);
}
