// The CPU time PostgreSQL's backends spent for one database: less disturbed by a busy machine than
// wall-clock time, so an A/B of statements can be read on a shared machine. Linux only, and only
// when the server runs on this machine (otherwise it reads nothing and reports null).
import { readFileSync } from "node:fs";
import { withClient } from "./db.ts";

/** CPU microseconds (user + system) per backend pid connected to the database of `url`. */
export async function backendCpu(url: string): Promise<Map<number, number> | null> {
  const pids = await withClient(url, async (c) =>
    (await c.query("select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()")).rows.map((r) => Number(r.pid)));
  const ticksPerUs = 100 / 1_000_000;
  const cpu = new Map<number, number>();
  for (const pid of pids) {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) / ticksPerUs);
    } catch {
      return null;
    }
  }
  return cpu;
}

/** Microseconds the backends spent between two readings (a backend that appeared in between counts from zero). */
export function backendCpuSpent(before: Map<number, number> | null, after: Map<number, number> | null): number | null {
  if (before === null || after === null) return null;
  let spent = 0;
  for (const [pid, us] of after) spent += us - (before.get(pid) ?? 0);
  return spent;
}
