// The command line of the bench scripts, through node:util parseArgs in strict mode: an unknown
// flag, a missing value or a malformed number stops the script with its usage, instead of being
// ignored (a mistyped `--round 5` used to run the default 3 rounds without a word).
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A command line the script does not take; `message` ends with the usage. */
export class UsageError extends Error {
  constructor(problem: string, usage: string) {
    super(`${problem}\nusage: ${usage}`);
    this.name = "UsageError";
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** `argv` parsed against `options` (and positionals when `positionals` is true), or a `UsageError`. */
export function parseCommandLine<O extends Options>(argv: readonly string[], usage: string, options: O, positionals = false) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: positionals });
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
}

/** `value` as a whole number of at least `min`, or `fallback` when absent; a `UsageError` otherwise. */
export function wholeNumber(value: string | undefined, name: string, fallback: number, usage: string, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be a whole number of at least ${min}, got ${JSON.stringify(value)}`, usage);
  return n;
}

/** Runs `read` over the process's arguments; on a `UsageError`, prints it and exits with status 2. */
export function commandLine<T>(read: (argv: readonly string[]) => T): T {
  try {
    return read(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
