import { createFinishedIndex } from "../sql/schema.js";
import type { Migration } from "./migration.js";

/** Migration 2: finished jobs by when they ended, for retention. */
export const retentionIndexMigration: Migration = {
  version: 2,
  name: "retention index",
  async up(sql, schema) {
    await createFinishedIndex(sql, schema);
  },
};
