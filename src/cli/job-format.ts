import type { JobRecord, LogEntry } from "jobgraph";
import { formatDate, oneLine, renderTable, type Output } from "./output.js";

/** The first block of a UUID: enough to tell jobs apart on a screen. */
export const shortId = (id: string) => id.slice(0, 8);

/** `jobs list`: one row per job. */
export function jobTable(out: Output, jobs: readonly JobRecord[]): string {
  return renderTable(
    ["ID", "TYPE", "STATUS", "PRIORITY", "ATTEMPT", "CREATED", "FINISHED"],
    jobs.map((job) => [job.id, job.type, out.status(job.status), job.priority, `${job.attempt}/${job.maxAttempts}`, formatDate(job.createdAt), formatDate(job.finishedAt)]),
  );
}

/** `jobs show`: every field of one job, a line each, payload and result as JSON. */
export function jobDetail(out: Output, job: JobRecord): string {
  const fields: [string, string][] = [
    ["id", job.id],
    ["type", job.type],
    ["status", out.status(job.status)],
    ["priority", job.priority],
    ["attempt", `${job.attempt} of ${job.maxAttempts}`],
    ["depends on", job.dependsOn.length === 0 ? "-" : job.dependsOn.join(", ")],
    ["idempotency key", job.idempotencyKey ?? "-"],
    ["resources", Object.keys(job.resources).length === 0 ? "-" : Object.entries(job.resources).map(([k, v]) => `${k}=${v}`).join(", ")],
    ["timeout", job.timeoutMs === undefined ? "-" : `${job.timeoutMs} ms`],
    ["run at", formatDate(job.runAt)],
    ["created", formatDate(job.createdAt)],
    ["started", formatDate(job.startedAt)],
    ["finished", formatDate(job.finishedAt)],
    ["payload", JSON.stringify(job.payload)],
  ];
  if (job.result !== undefined) fields.push(["result", JSON.stringify(job.result)]);
  if (job.error !== undefined) fields.push(["error", `${job.error.name}${job.error.code === undefined ? "" : ` (${job.error.code})`}: ${job.error.message}`]);
  const label = Math.max(...fields.map(([name]) => name.length));
  return fields.map(([name, value]) => `${out.dim(name.padEnd(label))}  ${value}`).join("\n");
}

/** `jobs logs`: one line per entry, time, attempt, kind or level, message, data. */
export function logLines(out: Output, entries: readonly LogEntry[]): string {
  return renderTable(
    ["AT", "ATTEMPT", "KIND", "MESSAGE"],
    entries.map((entry) => [
      formatDate(entry.at),
      String(entry.attempt),
      entry.kind === "status" ? "status" : (entry.level ?? "log"),
      entry.kind === "status" ? statusChange(out, entry) : oneLine(entry.data === undefined ? entry.message : `${entry.message} ${JSON.stringify(entry.data)}`, 120),
    ]),
  );
}

/** A status entry as `pending -> running`, with the error that caused it. */
function statusChange(out: Output, entry: LogEntry): string {
  const data = (typeof entry.data === "object" && entry.data !== null && !Array.isArray(entry.data) ? entry.data : {}) as { from?: unknown; error?: { message?: unknown } };
  const from = typeof data.from === "string" ? `${out.status(data.from)} -> ` : "";
  const error = typeof data.error?.message === "string" ? `  ${oneLine(data.error.message, 100)}` : "";
  return `${from}${out.status(entry.message)}${error}`;
}
