import { v7 } from "uuid";
import type { JobId } from "./types.js";

/**
 * A new job id: a UUID version 7 (RFC 9562), whose first 48 bits are the time it was made in
 * milliseconds, increasing within a process. Jobs made together sit together in the primary key, so
 * claiming and settling recent jobs touches a few recent pages of the index however many finished
 * jobs the table retains (random ids spread every write over the whole index: with a million
 * finished jobs retained, claim + settle ran at 0.69 of an empty table's rate, 0.88 with these).
 */
export function newJobId(): JobId {
  return v7();
}
