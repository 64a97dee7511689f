import { constants } from "node:os";
import type { Output } from "./output.js";

/**
 * On SIGTERM or SIGINT, runs `stop` (the queue's graceful shutdown) and exits 0 once it is done, 1 if
 * it failed; a second signal exits at once, with the usual 128 + signal number. `graceMs` null: the
 * process runs no jobs.
 */
export function stopOnSignals(out: Output, graceMs: number | null, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      out.note(`${signal} again: exiting now`);
      process.exit(128 + constants.signals[signal]);
    }
    stopping = true;
    // A process that runs no jobs (`serve` without --worker) has no grace to announce.
    const what = graceMs === null ? "stopping" : `no new jobs; running ones have ${graceMs} ms to finish`;
    out.note(`${signal}: ${what} (${signal} again exits at once)`);
    stop().then(
      () => {
        out.note("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        out.note(`error while stopping: ${(error as Error).message ?? String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
