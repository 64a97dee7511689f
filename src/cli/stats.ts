import type { Command } from "commander";
import { JOB_STATUSES, PRIORITIES } from "jobgraph";
import { withQueue } from "./connection.js";
import { renderTable } from "./output.js";

/** `jobgraph stats`: what the store holds, by status and, for pending jobs, by priority. */
export function addStatsCommand(program: Command): void {
  program
    .command("stats")
    .description("jobs by status, and pending jobs (the queue length) by priority")
    .action(async (_options: unknown, command: Command) =>
      withQueue(command, async (queue, out) => {
        const { jobs } = await queue.metrics();
        if (out.json) return out.printJson({ byStatus: jobs.byStatus, pendingByPriority: jobs.pendingByPriority });
        out.line(renderTable(["STATUS", "JOBS"], JOB_STATUSES.map((status) => [out.status(status), String(jobs.byStatus[status])])));
        out.line();
        out.line(renderTable(["PRIORITY", "PENDING"], PRIORITIES.map((priority) => [priority, String(jobs.pendingByPriority[priority])])));
      }),
    );
}
