import { expect } from "vitest";
import type { Queue } from "../../src/queue.js";
import { MAX_STORED_TEXT_BYTES } from "../../src/stored-text.js";
import type { ErrorInfo, JobRecord } from "../../src/types.js";

const HUGE = "e".repeat(8 * 1024 * 1024);

/**
 * Defines "huge.text" on `queue`: each attempt logs an 8 MiB line with 100 KiB of data and throws an
 * 8 MiB message; two attempts. The same scenario runs on every store.
 */
export function defineHugeText(queue: Queue): void {
  queue.defineHandler("huge.text", {
    retry: { maxAttempts: 2, backoff: { baseMs: 1, jitter: false } },
    run: (_payload, ctx) => {
      ctx.log("info", HUGE, { blob: "d".repeat(100_000) });
      throw new Error(HUGE);
    },
  });
}

/** What the store kept of the failed "huge.text" job: every error and log line within the bound. */
export async function expectBoundedText(queue: Queue, job: JobRecord): Promise<void> {
  expect(job).toMatchObject({ status: "failed", attempt: 2 });
  const entries = await queue.getJobLogs(job.id);
  // The job's error, and each attempt's in the status changes of the history.
  const errors = [job.error, ...entries.flatMap((entry) => (entry.kind === "status" && (entry.data as { error?: ErrorInfo } | undefined)?.error) || [])];
  expect(errors).toHaveLength(3);
  for (const error of errors) {
    expect(Buffer.byteLength(error?.message ?? "")).toBeLessThanOrEqual(MAX_STORED_TEXT_BYTES);
    expect(error?.message).toMatch(/^e{60000,}… \[truncated: 8388608 bytes in all\]$/);
  }
  const lines = entries.filter((entry) => entry.kind === "log");
  expect(lines).toHaveLength(2);
  for (const line of lines) {
    expect(Buffer.byteLength(line.message)).toBeLessThanOrEqual(MAX_STORED_TEXT_BYTES);
    expect(line.message).toMatch(/truncated: 8388608 bytes in all\]$/);
    expect(line.data).toMatchObject({ unserializable: expect.stringContaining("larger than") });
  }
}
