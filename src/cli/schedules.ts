import type { Command } from "commander";
import { withQueue } from "./connection.js";
import { parseJsonArgument } from "./option-parsers.js";
import { formatDate, renderTable } from "./output.js";
import { scheduleApi } from "./pending-api.js";
import type { Json } from "jobgraph";

interface AddOptions {
  readonly cron: string;
  readonly type: string;
  readonly timezone?: string;
  readonly payload?: Json;
  readonly options?: Record<string, unknown>;
  readonly misfire?: "run-once" | "skip";
}

/** `jobgraph schedules list|add|remove`. */
export function addSchedulesCommands(program: Command): void {
  const schedules = program.command("schedules").description("cron schedules: jobs enqueued once per tick by any running worker");

  schedules
    .command("list")
    .description("every schedule, with its next and last run")
    .action(async (_options: unknown, command: Command) =>
      withQueue(command, async (queue, out) => {
        const list = await scheduleApi(queue).listSchedules();
        if (out.json) return out.printJson(list);
        if (list.length === 0) return out.line("no schedules");
        out.line(
          renderTable(
            ["NAME", "CRON", "TIMEZONE", "TYPE", "NEXT RUN", "LAST RUN"],
            list.map((s) => [s.name, s.cron, s.timezone ?? "UTC", s.type, formatDate(s.nextRunAt), formatDate(s.lastRunAt)]),
          ),
        );
      }),
    );

  schedules
    .command("add")
    .description("store a schedule (the same name again replaces it)")
    .argument("<name>", "the schedule's name, its key")
    .requiredOption("--cron <expression>", 'cron expression, 5 or 6 fields, e.g. "0 3 * * *"')
    .requiredOption("--type <type>", "job type to enqueue at each tick")
    .option("--timezone <zone>", "IANA time zone the expression is read in, e.g. Europe/Berlin (default: UTC)")
    .option("--payload <json>", "payload of each job, as JSON", parseJsonArgument)
    .option("--options <json>", 'enqueue options of each job, as JSON, e.g. \'{"priority":"low"}\'', parseJsonArgument)
    .option("--misfire <policy>", "ticks missed while no worker ran: run-once (default) or skip")
    .action(async (name: string, options: AddOptions, command: Command) =>
      withQueue(command, async (queue, out) => {
        if (options.misfire !== undefined && options.misfire !== "run-once" && options.misfire !== "skip") {
          command.error("error: option '--misfire <policy>' must be run-once or skip", { exitCode: 2, code: "jobgraph.usage" });
        }
        const api = scheduleApi(queue);
        await api.schedule(name, {
          cron: options.cron,
          type: options.type,
          ...(options.timezone === undefined ? {} : { timezone: options.timezone }),
          ...(options.payload === undefined ? {} : { payload: options.payload }),
          ...(options.options === undefined ? {} : { options: options.options }),
          ...(options.misfire === undefined ? {} : { misfire: options.misfire }),
        });
        const stored = (await api.listSchedules()).find((s) => s.name === name);
        if (out.json) return out.printJson(stored ?? null);
        out.line(`scheduled ${name}: ${options.type} at "${options.cron}"${stored?.nextRunAt === undefined ? "" : `, next run ${formatDate(stored.nextRunAt)}`}`);
      }),
    );

  schedules
    .command("remove")
    .description("delete a schedule; jobs it already enqueued stay")
    .argument("<name>", "the schedule's name")
    .action(async (name: string, _options: unknown, command: Command) =>
      withQueue(command, async (queue, out) => {
        const removed = await scheduleApi(queue).unschedule(name);
        if (out.json) return out.printJson({ name, removed });
        out.line(removed === false ? `no schedule named ${name}` : `removed ${name}`);
      }),
    );
}
