import { addScheduleRevisionSequence } from "../sql/schedules.js";
import type { Migration } from "./migration.js";

/** Migration 6: schedule revisions from one sequence, never reused after a delete. */
export const scheduleRevisionsMigration: Migration = {
  version: 6,
  name: "schedule revisions",
  async up(sql, schema) {
    for (const statement of addScheduleRevisionSequence(sql, schema)) await statement;
  },
};
