// The store alone, no queue: claim N pre-inserted jobs B at a time and settle each batch as completed,
// in series; prints the store's time per job for each, and the process's CPU per job.
//   node --import tsx bench/claim-settle.ts [jobs=20000] [batch=50] [--retained N]   (SCHEMA_VARIANT=nofk,noidx,... to compare)
import { ensureDatabase, urlFor } from "./lib/db.ts";
import { claimSettleLoop } from "./lib/claim-settle-loop.ts";
import { commandLine, parseCommandLine, UsageError, wholeNumber } from "./lib/args.ts";

const usage = "node --import tsx bench/claim-settle.ts [jobs=20000] [batch=50] [--retained N]";
const { jobs, batch, retained } = commandLine((argv) => {
  const { positionals, values } = parseCommandLine(argv, usage, { retained: { type: "string" } }, true);
  const [count, size, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, usage);
  return {
    jobs: wholeNumber(count, "jobs", 20_000, usage),
    batch: wholeNumber(size, "batch", 50, usage),
    retained: wholeNumber(values.retained, "retained", 0, usage, 0),
  };
});
const database = "jobgraph_bench_profile";
await ensureDatabase(database);
const run = await claimSettleLoop(urlFor(database), { jobs, batch, retained });
console.log(JSON.stringify({ ...run, variants: process.env.SCHEMA_VARIANT ?? "" }));
