import { timingSafeEqual } from "node:crypto";
import type { Command } from "commander";
import { CliError, UsageError } from "./cli-error.js";
import { connectionOf, openQueue, outputOf, type OpenQueue } from "./connection.js";
import { stopOnSignals } from "./graceful-stop.js";
import { integerIn } from "./option-parsers.js";
import { importPeer } from "../adapters/peer.js";
import { reportQueueErrors } from "./queue-error-report.js";
import { shutdownGraceOf, startRunner } from "./worker.js";
import { addWorkerOptions, type WorkerFlags } from "./worker-options.js";

interface ServeFlags extends WorkerFlags {
  readonly port: number;
  readonly host: string;
  readonly prefix: string;
  readonly worker?: boolean;
  readonly token?: string;
  readonly dashboard: boolean;
}

/** `jobgraph serve`: the HTTP API and the status socket on Fastify; `--worker` runs handlers too. */
export function addServeCommand(program: Command): void {
  addWorkerOptions(
    program
      .command("serve")
      .description("serve the HTTP API and the job status WebSocket (Fastify); --worker runs handlers in the same process")
      .option("--port <port>", "port to listen on (0: any free one)", integerIn(0, 65_535), 3_000)
      .option("--host <address>", "address to listen on (0.0.0.0: every interface)", "127.0.0.1")
      .option("--prefix <path>", "where the routes are mounted", "/api")
      .option("--token <token>", "require Authorization: Bearer <token> on every route and the socket (default: $JOBGRAPH_API_TOKEN)")
      .option("--no-dashboard", "do not serve the web dashboard at <prefix>/ui/")
      .option("--worker", "run jobs in this process too (needs --handlers)")
      .option("--handlers <module>", "with --worker: the module defining the handlers"),
  ).action(async (flags: ServeFlags, command: Command) => {
    if (flags.worker === true && flags.handlers === undefined) throw new UsageError("serve --worker needs --handlers <module>");
    if (flags.worker !== true && flags.handlers !== undefined) throw new UsageError("--handlers is for serve --worker");
    if (!/^\/[A-Za-z0-9._~\-/]*$/.test(flags.prefix)) throw new UsageError("--prefix must be a path such as /api");
    const out = outputOf(command);
    const token = flags.token ?? (process.env.JOBGRAPH_API_TOKEN || undefined);
    const { schema } = connectionOf(command);
    const [{ fastify }, { jobgraphPlugin, jobgraphFrameworkErrors }] = await Promise.all([importPeer("fastify", "jobgraph serve", () => import("fastify")), import("jobgraph/fastify")]);
    const opened: OpenQueue =
      flags.worker === true ? await startRunner(command, { ...flags, handlers: flags.handlers as string }, out) : await openQueue(command, { logger: false }, { max: 10 });
    if (flags.worker !== true) reportQueueErrors(opened.queue, out);
    // frameworkErrors: a URL that does not percent-decode gets jobgraph's error shape, not Fastify's own.
    const app = fastify({ logger: false, frameworkErrors: jobgraphFrameworkErrors });
    try {
      if (flags.worker !== true && flags.migrate) await opened.queue.migrate();
      const prefix = flags.prefix === "/" ? "" : flags.prefix.replace(/\/+$/, "");
      await app.register(jobgraphPlugin, {
        queue: opened.queue,
        prefix,
        dashboard: flags.dashboard,
        ...(token === undefined ? {} : { authorize: (request: { headers: Record<string, unknown> }) => bearerMatches(request.headers.authorization, token) || { status: 401 as const } }),
        onError: (error: unknown) => out.note(`error: ${(error as Error).message ?? String(error)}`),
      });
      await app.listen({ port: flags.port, host: flags.host });
    } catch (error) {
      await app.close();
      await opened.close();
      throw error instanceof CliError || error instanceof UsageError ? error : new CliError("SERVE", `cannot serve: ${(error as Error).message ?? String(error)}`, { cause: error });
    }
    stopOnSignals(out, flags.worker === true ? shutdownGraceOf(flags) : null, async () => {
      await opened.close(); // first: closes the status sockets with 1001 once nothing runs
      await app.close();
    });
    const { port } = app.server.address() as { port: number };
    const base = `http://${flags.host.includes(":") ? `[${flags.host}]` : flags.host}:${port}${flags.prefix === "/" ? "" : flags.prefix.replace(/\/+$/, "")}`;
    if (token === undefined && !["127.0.0.1", "::1", "localhost"].includes(flags.host)) out.note(`warning: serving ${flags.host} without --token: anyone who reaches it can enqueue and cancel jobs`);
    const dashboard = flags.dashboard ? `${base}/ui/` : null;
    if (out.json) process.stdout.write(`${JSON.stringify({ event: "listening", url: base, port, schema, worker: flags.worker === true, dashboard })}\n`);
    else out.line(`jobgraph serving ${base}/jobs (status socket ${base.replace(/^http/, "ws")}/ws) from schema ${schema}${flags.worker === true ? ", running jobs" : ""}${dashboard === null ? "" : `; dashboard ${dashboard}`}`);
  });
}

/** Whether an Authorization header carries `Bearer <token>`, compared in constant time. */
function bearerMatches(header: unknown, token: string): boolean {
  if (typeof header !== "string" || !header.startsWith("Bearer ")) return false;
  const given = Buffer.from(header.slice("Bearer ".length));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
