#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { isQueueError, SchemaNotMigratedError, StorageError, ValidationError } from "jobgraph";
import { createRequire } from "node:module";
import { CliError, UsageError } from "./cli-error.js";
import { addGlobalOptions } from "./connection.js";
import { addJobsCommands } from "./jobs.js";
import { addMigrateCommand } from "./migrate.js";
import { toJsonText } from "./output.js";
import { addSchedulesCommands } from "./schedules.js";
import { addServeCommand } from "./serve.js";
import { addStatsCommand } from "./stats.js";
import { addWorkerCommand } from "./worker.js";

/**
 * Exit codes: 0 done, 1 the command failed (a job not found, no database), 2 the command line was wrong
 * (commander's own errors, a UsageError, and any ValidationError: every value a command hands the
 * queue, an id, a cron expression, a time zone, a schema name, a payload, came from its command line).
 */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

/** The package's version, read beside the bundle (dist/cli.js -> package.json). */
const version = (createRequire(import.meta.url)("../package.json") as { version: string }).version;

/** The `jobgraph` command with every subcommand. */
export function createProgram(): Command {
  const program = new Command("jobgraph")
    .description("jobgraph: a PostgreSQL-backed job queue. Operate it from a shell.")
    .version(version)
    // Set before the subcommands are made, which inherit them.
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ showGlobalOptions: true });
  addGlobalOptions(program);
  addMigrateCommand(program);
  addWorkerCommand(program);
  addServeCommand(program);
  addJobsCommands(program);
  addSchedulesCommands(program);
  addStatsCommand(program);
  return program;
}

/** Runs the command line; answers the exit code (a running worker or server exits on its own signal). */
export async function run(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync(argv as string[]);
    return 0;
  } catch (error) {
    // Commander already printed its message (and the line of help): help and --version end with 0.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    const json = program.opts<{ json?: boolean }>().json === true || argv.includes("--json");
    if (error instanceof UsageError) {
      report(json, "USAGE", error.message);
      process.stderr.write("(add --help for usage)\n");
      return EXIT_USAGE;
    }
    const code = isQueueError(error) || error instanceof CliError ? error.code : "ERROR";
    const issues = error instanceof ValidationError ? error.issues : [];
    report(json, code, messageForCli(error), issues);
    return error instanceof ValidationError ? EXIT_USAGE : EXIT_FAILURE;
  }
}

/**
 * The error's message, and for a store's failure the driver's reason ("database ... does not exist");
 * a schema not migrated names the command that migrates, not the library's call.
 */
function messageForCli(error: unknown): string {
  if (error instanceof SchemaNotMigratedError) {
    return `the jobgraph tables do not exist in schema ${JSON.stringify(error.schema)}: run \`jobgraph migrate\` first (worker and serve migrate too, unless given --no-migrate)`;
  }
  const message = (error as Error)?.message ?? String(error);
  if (!(error instanceof StorageError)) return message;
  const cause = (error.cause as { message?: unknown } | undefined)?.message;
  return typeof cause === "string" && cause !== "" && !message.includes(cause) ? `${message}: ${cause}` : message;
}

/**
 * One error on stderr: `error: message` for people (and a line per invalid field), or
 * `{"error":{"code","message","details"?}}` with --json, as the HTTP API answers.
 */
function report(json: boolean, code: string, message: string, issues: readonly { path: string; message: string }[] = []): void {
  if (json) {
    process.stderr.write(`${toJsonText({ error: { code, message, ...(issues.length === 0 ? {} : { details: { issues } }) } })}\n`);
    return;
  }
  // An issue the message already says ("invalid schedule: timezone: ...") is not said twice.
  const lines = issues.map((issue) => `${issue.path === "" ? "" : `${issue.path}: `}${issue.message}`).filter((line) => !message.includes(line));
  process.stderr.write(`error: ${message}\n${lines.map((line) => `  ${line}\n`).join("")}`);
}

const code = await run(process.argv);
// A worker or a server keeps running after its action returned; everything else is done.
if (code !== 0) process.exit(code);
