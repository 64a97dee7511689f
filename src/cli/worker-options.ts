import type { Command } from "commander";
import type { Queue, QueueOptions } from "jobgraph";
import { integerIn, parseCapacity } from "./option-parsers.js";
import type { Output } from "./output.js";

/** The flags of a process that runs handlers (`worker`, `serve --worker`). */
export interface WorkerFlags {
  readonly handlers?: string;
  readonly concurrency?: number;
  readonly capacity?: Record<string, number>;
  readonly prefetch?: number;
  readonly shutdownGraceMs?: number;
  readonly migrate: boolean;
}

/** Adds the flags of a process that runs handlers. */
export function addWorkerOptions(command: Command): Command {
  return command
    .option("--concurrency <n>", "most attempts in flight in this process (default 10)", integerIn(1, 10_000))
    .option("--capacity <units>", 'resource budget, e.g. "cpu=4,memoryMb=4096" (default: cpu=<cores>)', parseCapacity)
    .option("--prefetch <n>", "jobs claimed ahead of free slots (default 0)", integerIn(0, 10_000))
    .option("--shutdown-grace-ms <ms>", "on SIGTERM/SIGINT, how long running jobs may finish (default 30000)", integerIn(0, 2_147_483_647))
    .option("--no-migrate", "do not create or upgrade the schema at start");
}

/** Queue options from the flags (only those given: the queue's defaults for the rest). */
export function workerQueueOptions(flags: WorkerFlags): Omit<QueueOptions, "storage"> {
  return {
    ...(flags.concurrency === undefined ? {} : { concurrency: flags.concurrency }),
    ...(flags.capacity === undefined ? {} : { capacity: flags.capacity }),
    ...(flags.prefetch === undefined ? {} : { prefetch: flags.prefetch }),
    ...(flags.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: flags.shutdownGraceMs }),
    // Errors of the running queue (a lost connection, a listener that threw) go to stderr.
    logger: { warn: (...args: unknown[]) => console.error(...args), error: (...args: unknown[]) => console.error(...args) },
  };
}

/** A pool for a worker: one connection per attempt in flight (`ctx.tx`) plus the claim loop's. */
export const workerPoolSize = (flags: WorkerFlags) => Math.min(1_000, (flags.concurrency ?? 10) + 4);

/** Prints what the worker does: a line per finished job, or a JSON line each with `--json`. */
export function reportJobEvents(queue: Queue, out: Output): void {
  const report = (event: string, fields: Record<string, unknown>, text: string) =>
    out.json ? process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`) : out.line(text);
  queue.on("job:completed", ({ job, runTimeMs }) => report("completed", { id: job.id, type: job.type, runTimeMs }, `${out.status("completed")} ${job.type} ${job.id} in ${runTimeMs} ms`));
  queue.on("job:retrying", ({ job, error }) => report("retrying", { id: job.id, type: job.type, error }, `${out.status("pending", "retrying")} ${job.type} ${job.id}: ${error.message}`));
  queue.on("job:failed", ({ job, error }) => report("failed", { id: job.id, type: job.type, error }, `${out.status("failed")} ${job.type} ${job.id}: ${error.message}`));
}
