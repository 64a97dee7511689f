import type { Command } from "commander";
import { openQueue, outputOf, connectionOf, type OpenQueue } from "./connection.js";
import { stopOnSignals } from "./graceful-stop.js";
import { loadHandlers } from "./handlers-module.js";
import type { Output } from "./output.js";
import { reportQueueErrors } from "./queue-error-report.js";
import { addWorkerOptions, reportJobEvents, workerPoolSize, workerQueueOptions, type WorkerFlags } from "./worker-options.js";

/** The queue's own default, said in the shutdown message when no flag set it. */
const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;

/** `jobgraph worker --handlers <module>`: runs the module's handlers until SIGTERM or SIGINT. */
export function addWorkerCommand(program: Command): void {
  addWorkerOptions(
    program
      .command("worker")
      .description("run jobs: the handlers module's default export (queue) => void defines the handlers")
      .requiredOption("--handlers <module>", "path of the module defining the handlers (ESM or CommonJS JavaScript)"),
  ).action(async (flags: WorkerFlags & { handlers: string }, command: Command) => {
    const out = outputOf(command);
    const { schema } = connectionOf(command);
    const runner = await startRunner(command, flags, out);
    stopOnSignals(out, shutdownGraceOf(flags), runner.close);
    if (out.json) process.stdout.write(`${JSON.stringify({ event: "ready", pid: process.pid, schema, types: runner.types })}\n`);
    else out.line(`worker ${process.pid} running ${runner.types.join(", ")} from schema ${schema}`);
  });
}

/** How long a stop waits for running jobs. */
export const shutdownGraceOf = (flags: WorkerFlags) => flags.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;

/** A started queue that runs the handlers of `flags.handlers`; closing it is the graceful stop. */
export async function startRunner(command: Command, flags: WorkerFlags & { handlers: string }, out: Output): Promise<OpenQueue & { types: string[] }> {
  const opened = await openQueue(command, workerQueueOptions(flags), { max: workerPoolSize(flags) });
  try {
    const types = await loadHandlers(flags.handlers, opened.queue);
    reportJobEvents(opened.queue, out);
    reportQueueErrors(opened.queue, out);
    // Without migrating, a schema that is not there must stop the worker now, not fail every claim.
    if (!flags.migrate) await opened.queue.metrics();
    await opened.queue.start({ migrate: flags.migrate });
    return { ...opened, types };
  } catch (error) {
    await opened.close();
    throw error;
  }
}
