import { ValidationError } from "./errors.js";

// The cursor of a listing (`listJobs`, `listFinishedJobIds`): a job's insertion number (`seq`) as
// base64url text. One decoder for every store, so that each refuses the same cursors.

/** The cursor that continues a listing after (or before) the job inserted as number `seq`. */
export function encodePageCursor(seq: bigint | number): string {
  return Buffer.from(seq.toString()).toString("base64url");
}

/**
 * The insertion number a cursor names. Only decimal digits, as a store wrote them; at most 18, so
 * any fits a PostgreSQL bigint. Anything else (empty text, signs, spaces, exponents, hex) is a
 * `ValidationError`, not a page from somewhere unexpected.
 */
export function decodePageCursor(cursor: string): bigint {
  const text = Buffer.from(cursor, "base64url").toString();
  if (!/^[0-9]{1,18}$/.test(text)) throw new ValidationError("invalid cursor", [{ path: "cursor", message: "not a cursor from listJobs" }]);
  return BigInt(text);
}
