// Times every claim and settle of PostgresStorage from the process's side (call to answer), to see
// how the worker's pipeline uses the database: how many jobs each call carries, how long it is in
// flight, and for what share of the processing a claim or a settle is in flight at all.
import { performance } from "node:perf_hooks";
import { PostgresStorage } from "../../src/storage/postgres/index.ts";

interface Call {
  readonly kind: "claim" | "settle";
  readonly start: number;
  readonly end: number;
  readonly jobs: number;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Starts timing the claims and settles of every PostgresStorage of this process. */
export function traceStoreCalls(): { summary(from: number, to: number): Record<string, unknown> } {
  const calls: Call[] = [];
  const proto = PostgresStorage.prototype;
  const claimJobs = proto.claimJobs;
  const settle = proto.settle;
  proto.claimJobs = async function (this: PostgresStorage, ...args: Parameters<typeof claimJobs>) {
    const start = performance.now();
    const result = await claimJobs.apply(this, args);
    calls.push({ kind: "claim", start, end: performance.now(), jobs: result.claimed.length });
    return result;
  };
  proto.settle = async function (this: PostgresStorage, ...args: Parameters<typeof settle>) {
    const start = performance.now();
    const result = await settle.apply(this, args);
    calls.push({ kind: "settle", start, end: performance.now(), jobs: result.length });
    return result;
  };
  return {
    summary(from, to) {
      const within = calls.filter((call) => call.end > from && call.start < to);
      /** Share of [from, to] during which at least one call of `kind` was in flight. */
      const busy = (kind: Call["kind"]) => {
        let covered = 0;
        let reach = from;
        for (const call of within.filter((c) => c.kind === kind).sort((a, b) => a.start - b.start)) {
          const start = Math.max(call.start, reach);
          const end = Math.min(call.end, to);
          if (end > start) covered += end - start;
          reach = Math.max(reach, end);
        }
        return Math.round((100 * covered) / (to - from));
      };
      const of = (kind: Call["kind"]) => {
        const mine = within.filter((call) => call.kind === kind);
        return {
          calls: mine.length,
          medianJobs: median(mine.map((call) => call.jobs)),
          medianMs: Number(median(mine.map((call) => call.end - call.start)).toFixed(2)),
          inFlightPercent: busy(kind),
        };
      };
      return { claims: of("claim"), settles: of("settle") };
    },
  };
}
