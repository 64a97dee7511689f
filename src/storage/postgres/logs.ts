import { JobNotFoundError } from "../../errors.js";
import type { JobId, LogEntry, NewLogLine } from "../../types.js";
import { deriveJobLogs } from "../../job-history.js";
import { isUuid } from "./is-uuid.js";
import { toHandlerLines, toJobHistory } from "./rows.js";
import { insertLogLines, selectHistory } from "./sql/logs.js";
import { selectExistingIds } from "./sql/reads.js";
import type { StoreContext } from "./store-context.js";

/** `PostgresStorage.appendLogs`: handler lines, one statement; a line of an unknown job is a `JobNotFoundError`. */
export async function appendLogs(store: StoreContext, lines: readonly NewLogLine[]): Promise<void> {
  if (lines.length === 0) return;
  const missing = lines.find((line) => !isUuid(line.jobId));
  if (missing !== undefined) throw new JobNotFoundError(missing.jobId);
  const rows = lines.map((line) => ({
    job_id: line.jobId,
    attempt: line.attempt,
    at: line.at.toISOString(),
    level: line.level,
    message: line.message,
    ...(line.data === undefined ? {} : { data: line.data }),
  }));
  try {
    await store.guard((sql) => insertLogLines(sql, store.schema, rows), "append logs");
  } catch (err) {
    if ((err as { cause?: { code?: unknown } }).cause?.code === "23503") {
      const ids = [...new Set(lines.map((line) => line.jobId))];
      const found = new Set((await store.guard((sql) => selectExistingIds(sql, store.schema, ids), "append logs")).map((row) => row.id));
      const unknown = ids.find((id) => !found.has(id));
      if (unknown !== undefined) throw new JobNotFoundError(unknown);
    }
    throw err;
  }
}

/** `PostgresStorage.listLogs`: the job's history from its row, with its handler lines, in order. */
export async function listLogs(store: StoreContext, jobId: JobId): Promise<readonly LogEntry[]> {
  if (!isUuid(jobId)) return [];
  const [row] = await store.guard((sql) => selectHistory(sql, store.schema, jobId), "list logs");
  return row === undefined ? [] : deriveJobLogs(toJobHistory(row), toHandlerLines(row.lines));
}
