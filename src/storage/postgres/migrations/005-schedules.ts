import { createSchedulesTable } from "../sql/schedules.js";
import type { Migration } from "./migration.js";

/** Migration 5: the table of cron schedules. */
export const schedulesMigration: Migration = {
  version: 5,
  name: "schedules",
  async up(sql, schema) {
    await createSchedulesTable(sql, schema);
  },
};
