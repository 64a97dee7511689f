import type { Command } from "commander";
import { Queue, type QueueOptions } from "jobgraph";
import { UsageError } from "./cli-error.js";
import { importPeer } from "../adapters/peer.js";
import { processOutput, type Output } from "./output.js";

/** The options every command takes (given before or after the command's name). */
export interface GlobalOptions {
  readonly databaseUrl?: string;
  readonly schema?: string;
  readonly json?: boolean;
}

/** Where the queue's tables are: flags first, then DATABASE_URL and JOBGRAPH_SCHEMA. */
export interface Connection {
  readonly url: string;
  readonly schema: string;
}

/** Adds `--database-url`, `--schema` and `--json` to the root command. */
export function addGlobalOptions(program: Command): Command {
  return program
    .option("--database-url <url>", "PostgreSQL URL (default: $DATABASE_URL)")
    .option("--schema <name>", "schema holding jobgraph's tables (default: $JOBGRAPH_SCHEMA or jobgraph)")
    .option("--json", "print JSON for scripts instead of text for people");
}

/** The global options as this command sees them. */
export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** The command's connection; no URL anywhere is a usage error. */
export function connectionOf(command: Command, env: NodeJS.ProcessEnv = process.env): Connection {
  const options = globalOptions(command);
  const url = options.databaseUrl ?? (env.DATABASE_URL === "" ? undefined : env.DATABASE_URL);
  if (url === undefined) throw new UsageError("no database: pass --database-url or set DATABASE_URL");
  // Not repeated in the message: it may hold a password.
  if (!URL.canParse(url) || !/^postgres(ql)?:$/.test(new URL(url).protocol)) throw new UsageError("the database URL is not a postgres:// URL");
  const schema = options.schema ?? (env.JOBGRAPH_SCHEMA === "" || env.JOBGRAPH_SCHEMA === undefined ? "jobgraph" : env.JOBGRAPH_SCHEMA);
  return { url, schema };
}

/** The output of this command, JSON or text as `--json` says. */
export function outputOf(command: Command): Output {
  return processOutput(globalOptions(command).json === true);
}

/** A queue on the command's database and its own store; closing it closes both. */
export interface OpenQueue {
  readonly queue: Queue;
  readonly close: () => Promise<void>;
}

/**
 * Opens a queue on the command's database. One-off commands need no LISTEN connection and a small
 * pool; `worker` and `serve` pass their own store options.
 */
export async function openQueue(
  command: Command,
  queueOptions: Omit<QueueOptions, "storage"> = { logger: false },
  storageOptions: { max?: number; listen?: boolean } = { max: 2, listen: false },
): Promise<OpenQueue> {
  const { url, schema } = connectionOf(command);
  const { PostgresStorage } = await importPeer("postgres", "the jobgraph command", () => import("jobgraph/postgres"));
  const storage = new PostgresStorage({ connectionString: url, schema, ...storageOptions });
  const queue = new Queue({ ...queueOptions, storage });
  return {
    queue,
    close: async () => {
      await queue.shutdown();
      await storage.close();
    },
  };
}

/** Runs `work` with a queue on the command's database and closes it afterwards, whatever happened. */
export async function withQueue<T>(command: Command, work: (queue: Queue, out: Output) => Promise<T>): Promise<T> {
  const out = outputOf(command);
  const { queue, close } = await openQueue(command);
  try {
    return await work(queue, out);
  } finally {
    await close();
  }
}

/**
 * Adds `<parent> <name> <argument>`, a command of one argument (a job's id, a schedule's name) that
 * runs with a queue on the command's database, closed afterwards.
 */
export function addArgumentCommand(
  parent: Command,
  name: string,
  description: string,
  argument: { readonly name: string; readonly description: string },
  run: (value: string, queue: Queue, out: Output) => Promise<void>,
): Command {
  return parent
    .command(name)
    .description(description)
    .argument(`<${argument.name}>`, argument.description)
    .action(async (value: string, _options: unknown, command: Command) => withQueue(command, (queue, out) => run(value, queue, out)));
}
