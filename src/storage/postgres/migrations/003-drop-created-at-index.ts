import { dropCreatedAtIndex } from "../sql/schema.js";
import type { Migration } from "./migration.js";

/** Migration 3: no index on created_at. */
export const dropCreatedAtIndexMigration: Migration = {
  version: 3,
  name: "drop created_at index",
  async up(sql, schema) {
    await dropCreatedAtIndex(sql, schema);
  },
};
