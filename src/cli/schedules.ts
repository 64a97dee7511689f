import { Option, type Command } from "commander";
import { CliError } from "./cli-error.js";
import { addArgumentCommand, withQueue } from "./connection.js";
import { parseJsonArgument } from "./option-parsers.js";
import { formatDate, renderTable } from "./output.js";
import type { Json, MisfirePolicy, ScheduleInput } from "jobgraph";

interface AddOptions {
  readonly cron: string;
  readonly type: string;
  readonly timezone?: string;
  readonly payload?: Json;
  readonly options?: ScheduleInput["options"];
  readonly misfire?: MisfirePolicy;
}

/** `jobgraph schedules list|add|remove`. */
export function addSchedulesCommands(program: Command): void {
  const schedules = program.command("schedules").description("cron schedules: jobs enqueued once per tick by any running worker");

  schedules
    .command("list")
    .description("every schedule, with its next and last run")
    .action(async (_options: unknown, command: Command) =>
      withQueue(command, async (queue, out) => {
        const list = await queue.listSchedules();
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
    .addOption(new Option("--misfire <policy>", "ticks missed while no worker ran (default: run-once)").choices(["run-once", "skip"]))
    .action(async (name: string, options: AddOptions, command: Command) =>
      withQueue(command, async (queue, out) => {
        const stored = await queue.schedule(name, {
          cron: options.cron,
          type: options.type,
          ...(options.timezone === undefined ? {} : { timezone: options.timezone }),
          ...(options.payload === undefined ? {} : { payload: options.payload }),
          ...(options.options === undefined ? {} : { options: options.options }),
          ...(options.misfire === undefined ? {} : { misfire: options.misfire }),
        });
        if (out.json) return out.printJson(stored);
        out.line(`scheduled ${name}: ${stored.type} at "${stored.cron}" ${stored.timezone ?? "UTC"}, next run ${formatDate(stored.nextRunAt)}`);
      }),
    );

  addArgumentCommand(schedules, "remove", "delete a schedule; jobs it already enqueued stay", { name: "name", description: "the schedule's name" }, async (name, queue, out) => {
    // Like `jobs show` of an unknown id: a script learns that nothing was there.
    if (!(await queue.unschedule(name))) throw new CliError("SCHEDULE_NOT_FOUND", `no schedule named ${name}`);
    if (out.json) return out.printJson({ name, removed: true });
    out.line(`removed ${name}`);
  });
}
