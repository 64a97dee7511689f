import type { JobRecord, QueueMetrics } from "jobgraph";

const ICON: Record<JobRecord["status"], string> = {
  blocked: "·", pending: "○", running: "▶", completed: "✔", failed: "✖", cancelled: "⊘",
};

const ms = (from: Date | undefined, to: Date | undefined) => (from === undefined || to === undefined ? "" : `${to.getTime() - from.getTime()} ms`);

/** The live board: one line per job, then what the worker is using. */
export function renderBoard(jobs: readonly JobRecord[], names: ReadonlyMap<string, string>, metrics: QueueMetrics): string {
  const rows = jobs.map((job) => {
    const name = (names.get(job.id) ?? job.type).padEnd(24);
    const attempt = job.attempt > 1 ? ` (attempt ${job.attempt})` : "";
    const error = job.status === "pending" && job.error !== undefined ? `  retrying after: ${job.error.message}` : "";
    return `  ${ICON[job.status]} ${name} ${job.priority.padEnd(8)} ${job.status.padEnd(9)}${attempt}${error}`;
  });
  const { inUse, capacity } = metrics.resources;
  const usage = Object.keys(capacity).map((unit) => `${unit} ${inUse[unit] ?? 0}/${capacity[unit]}`).join(", ");
  return `${rows.join("\n")}\n\n  running ${metrics.running}/${metrics.concurrency}   resources in use: ${usage}\n`;
}

/** The final table: status, attempts, wait (ready to start) and run time per job. */
export function renderSummary(jobs: readonly JobRecord[], names: ReadonlyMap<string, string>): string {
  const header = `  ${"job".padEnd(24)} ${"status".padEnd(10)} ${"attempts".padEnd(8)} ${"waited".padEnd(9)} ran`;
  const rows = jobs.map((job) => {
    const ready = job.runAt.getTime() > job.createdAt.getTime() ? job.runAt : job.createdAt;
    return `  ${(names.get(job.id) ?? job.type).padEnd(24)} ${job.status.padEnd(10)} ${String(job.attempt).padEnd(8)} ${ms(ready, job.startedAt).padEnd(9)} ${ms(job.startedAt, job.finishedAt)}`;
  });
  return `summary\n${header}\n${rows.join("\n")}`;
}
