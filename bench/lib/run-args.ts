// The options of bench/run.ts, apart from the script so that they can be checked without running it.
import { parseCommandLine, UsageError, wholeNumber } from "./args.ts";

export const RUN_USAGE =
  "node --import tsx bench/run.ts [--quick] [--rounds N] [--memory-rounds N] [--only jobgraph,pg-boss,graphile-worker] [--workloads seq,producers,bulk,process,latency,dag,memory,pgbench]";

const WORKLOADS = ["seq", "producers", "bulk", "process", "latency", "dag", "memory", "pgbench"];

export interface RunArgs {
  readonly quick: boolean;
  readonly rounds: number;
  readonly memoryRounds: number;
  readonly only: string[] | undefined;
  readonly workloads: string[] | undefined;
}

/** bench/run.ts's command line, or a `UsageError` for anything it does not take. */
export function parseRunArgs(argv: readonly string[]): RunArgs {
  const { values } = parseCommandLine(argv, RUN_USAGE, {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    "memory-rounds": { type: "string" },
    only: { type: "string" },
    workloads: { type: "string" },
  });
  const workloads = values.workloads?.split(",");
  const unknown = workloads?.find((w) => !WORKLOADS.includes(w));
  if (unknown !== undefined) throw new UsageError(`unknown workload ${JSON.stringify(unknown)}`, RUN_USAGE);
  return {
    quick: values.quick,
    rounds: wholeNumber(values.rounds, "--rounds", 3, RUN_USAGE),
    // One memory run per system by default: 100,000 jobs through jobgraph take about 1.5 minutes here.
    memoryRounds: wholeNumber(values["memory-rounds"], "--memory-rounds", 1, RUN_USAGE, 0),
    only: values.only?.split(","),
    workloads,
  };
}
