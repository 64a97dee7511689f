/** A command that could not do its work for a reason of the command line's own (exit code 1). */
export class CliError extends Error {
  constructor(
    readonly code: "HANDLERS_MODULE" | "NO_HANDLERS" | "NOT_CANCELLED" | "SCHEDULE_NOT_FOUND" | "SERVE",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
  }
}

/** A usage mistake found after parsing (a missing database URL): exit code 2, like commander's own. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
