import { constants } from "node:os";
import type { Output } from "./output.js";

/**
 * On SIGTERM or SIGINT, runs `stop` (the queue's graceful shutdown) and exits 0 once it is done, 1 if
 * it failed; a second signal exits at once, with the usual 128 + signal number.
 */
export function stopOnSignals(out: Output, graceMs: number, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      out.note(`${signal} again: exiting now`);
      process.exit(128 + constants.signals[signal]);
    }
    stopping = true;
    out.note(`${signal}: no new jobs; running ones have ${graceMs} ms to finish (${signal} again exits at once)`);
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
