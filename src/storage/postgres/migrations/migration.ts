import type { Db } from "../sql/fragments.js";

/** One numbered schema change. Append only: a released migration is never edited. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: (sql: Db, schema: string) => Promise<void>;
}
