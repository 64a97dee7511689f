import type { Command } from "commander";
import { JOB_STATUSES, JobNotFoundError, type JobStatus } from "jobgraph";
import { jobToJson, logEntryToJson } from "../adapters/job-json.js";
import { CliError } from "./cli-error.js";
import { addArgumentCommand, withQueue } from "./connection.js";
import { graphTree } from "./graph-tree.js";
import { jobDetail, jobTable, logLines } from "./job-format.js";
import { collectList, collectStatuses, integerIn, parseDate } from "./option-parsers.js";

interface ListOptions {
  readonly status?: JobStatus[];
  readonly type?: string[];
  readonly limit: number;
  readonly cursor?: string;
}

interface RedriveOptions {
  readonly status?: ("failed" | "cancelled")[];
  readonly type?: string[];
  readonly finishedAfter?: Date;
  readonly finishedBefore?: Date;
  readonly limit?: number;
}

const JOB_ID = { name: "id", description: "the job's id" } as const;

/**
 * `jobgraph jobs list|show|logs|graph|cancel|retry|redrive`. With `--json`, jobs and log entries are
 * printed as the HTTP API answers them (adapters/job-json.ts), so a script may read either.
 */
export function addJobsCommands(program: Command): void {
  const jobs = program.command("jobs").description("look at jobs and act on them");

  jobs
    .command("list")
    .description("jobs newest first, filtered by status and type, a page at a time")
    .option("--status <status>", "only jobs in this status (repeatable, or comma-separated)", collectStatuses(JOB_STATUSES))
    .option("--type <type>", "only jobs of this type (repeatable, or comma-separated)", collectList)
    .option("--limit <n>", "most jobs on the page (1-1000)", integerIn(1, 1_000), 50)
    .option("--cursor <cursor>", "where the previous page ended (its nextCursor)")
    .action(async (options: ListOptions, command: Command) =>
      withQueue(command, async (queue, out) => {
        const page = await queue.listJobs({
          limit: options.limit,
          ...(options.status === undefined ? {} : { status: options.status }),
          ...(options.type === undefined ? {} : { type: options.type }),
          ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
        });
        if (out.json) return out.printJson({ jobs: page.jobs.map(jobToJson), nextCursor: page.nextCursor ?? null });
        out.line(page.jobs.length === 0 ? "no jobs" : jobTable(out, page.jobs));
        if (page.nextCursor !== undefined) out.note(`more: --cursor ${page.nextCursor}`);
      }),
    );

  addArgumentCommand(jobs, "show", "one job: status, attempts, payload, result, error", JOB_ID, async (id, queue, out) => {
    const job = await queue.getJob(id);
    if (job === undefined) throw new JobNotFoundError(id);
    if (out.json) return out.printJson(jobToJson(job));
    out.line(jobDetail(out, job));
  });

  addArgumentCommand(jobs, "logs", "a job's history: status changes and its handler's log lines, in order", JOB_ID, async (id, queue, out) => {
    const entries = await queue.getJobLogs(id);
    if (out.json) return out.printJson(entries.map(logEntryToJson));
    out.line(entries.length === 0 ? "no entries" : logLines(out, entries));
  });

  addArgumentCommand(jobs, "graph", "the job's connected graph (what it waits for and what waits for it) as a tree", JOB_ID, async (id, queue, out) => {
    const graph = await queue.getJobGraph(id);
    if (out.json) return out.printJson({ jobs: graph.jobs.map(jobToJson), edges: graph.edges, truncated: graph.truncated });
    out.line(graphTree(out, graph, id));
    if (graph.truncated) out.note(`the graph is larger than shown: ${graph.jobs.length} jobs listed`);
  });

  addArgumentCommand(jobs, "cancel", "cancel a job: blocked or pending at once (with its dependents); a running one through its signal", JOB_ID, async (id, queue, out) => {
    const job = await queue.cancel(id);
    // The store leaves a finished job as it is: nothing was cancelled, and a script should know.
    if (job.status === "completed" || job.status === "failed") throw new CliError("NOT_CANCELLED", `job ${job.id} is already ${job.status}: nothing to cancel`);
    if (out.json) return out.printJson(jobToJson(job));
    out.line(job.status === "running" ? `cancel requested for ${job.id} (${job.type}): its handler's signal aborts` : `cancelled ${job.id} (${job.type})`);
  });

  addArgumentCommand(jobs, "retry", "run a failed or cancelled job again, with a fresh attempt budget", JOB_ID, async (id, queue, out) => {
    const job = await queue.retry(id);
    if (out.json) return out.printJson(jobToJson(job));
    out.line(`retried ${job.id} (${job.type}): now ${out.status(job.status)}`);
  });

  jobs
    .command("redrive")
    .description("retry failed (or cancelled) jobs in bulk, under the rules of retry")
    .option("--status <status>", "failed and/or cancelled (default: failed)", collectStatuses(["failed", "cancelled"]))
    .option("--type <type>", "only jobs of this type (repeatable, or comma-separated)", collectList)
    .option("--finished-after <date>", "only jobs finished at or after this ISO 8601 date", parseDate)
    .option("--finished-before <date>", "only jobs finished before this ISO 8601 date", parseDate)
    .option("--limit <n>", "most jobs to retry (1-10000; default 1000)", integerIn(1, 10_000))
    .action(async (options: RedriveOptions, command: Command) =>
      withQueue(command, async (queue, out) => {
        const retried = await queue.retryMany({
          ...(options.status === undefined ? {} : { status: options.status }),
          ...(options.type === undefined ? {} : { type: options.type }),
          ...(options.finishedAfter === undefined ? {} : { finishedAfter: options.finishedAfter }),
          ...(options.finishedBefore === undefined ? {} : { finishedBefore: options.finishedBefore }),
          ...(options.limit === undefined ? {} : { limit: options.limit }),
        });
        if (out.json) return out.printJson({ retried });
        out.line(`retried ${retried} job${retried === 1 ? "" : "s"}`);
      }),
    );
}
