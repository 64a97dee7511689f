import {
  createDependenciesIndex, createDependenciesTable, createJobsIndexes, createJobsTable, createLogsIndex, createLogsTable,
} from "../sql/schema.js";
import type { Migration } from "./migration.js";

/** Migration 1: the jobs, their dependencies and their logs. */
export const initialSchemaMigration: Migration = {
  version: 1,
  name: "initial schema",
  async up(sql, schema) {
    await createJobsTable(sql, schema);
    for (const index of createJobsIndexes(sql, schema)) await index;
    await createDependenciesTable(sql, schema);
    await createDependenciesIndex(sql, schema);
    await createLogsTable(sql, schema);
    await createLogsIndex(sql, schema);
  },
};
