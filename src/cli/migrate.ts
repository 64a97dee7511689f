import type { Command } from "commander";
import { connectionOf, withQueue } from "./connection.js";

/** `jobgraph migrate`: creates or upgrades the schema (under an advisory lock, so any number may run at once). */
export function addMigrateCommand(program: Command): void {
  program
    .command("migrate")
    .description("create or upgrade jobgraph's tables in the schema")
    .action(async (_options: unknown, command: Command) =>
      withQueue(command, async (queue, out) => {
        await queue.migrate();
        const { schema } = connectionOf(command);
        if (out.json) return out.printJson({ migrated: true, schema });
        out.line(`migrated schema ${schema}`);
      }),
    );
}
