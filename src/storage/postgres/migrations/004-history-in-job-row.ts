import * as history from "../sql/history.js";
import type { Migration } from "./migration.js";

/** Migration 4 (schema generation 2): a job's attempts and transitions in its row, status log rows folded into them. */
export const historyInJobRowMigration: Migration = {
  version: 4,
  name: "history in the job row",
  async up(sql, schema) {
    await history.addHistoryColumns(sql, schema);
    await history.foldStatusRowsIntoAttempts(sql, schema);
    await history.foldStatusRowsIntoTransitions(sql, schema);
    await history.deleteStatusRows(sql, schema);
    for (const statement of history.reindexForHistoryInRow(sql, schema)) await statement;
  },
};
