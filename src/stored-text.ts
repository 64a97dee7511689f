import { storableText, toStorableText } from "./json-value.js";
import type { ErrorInfo } from "./types.js";

/** The most UTF-8 bytes kept of one stored error text or log message; the rest is cut with a marker. */
export const MAX_STORED_TEXT_BYTES = 65_536;

/**
 * `text` as a store will keep it, the same in every store: each U+0000 and lone surrogate replaced
 * by U+FFFD (PostgreSQL holds neither), and cut to `maxBytes` of UTF-8 with a marker saying how
 * long it was, so one runaway message is not stored whole in the job and in every attempt.
 */
export function toStoredText(text: string, maxBytes = MAX_STORED_TEXT_BYTES): string {
  // Every character takes at least one byte, so a longer text is cut anyway: clean only what may be kept.
  const head = text.length > maxBytes ? text.slice(0, maxBytes) : text;
  const clean = storableText(head) ? head : toStorableText(head);
  // Three bytes per UTF-16 unit at most: most texts need no counting.
  if (head === text && (clean.length * 3 <= maxBytes || Buffer.byteLength(clean) <= maxBytes)) return clean;
  const marker = `… [truncated: ${Buffer.byteLength(text)} bytes in all]`;
  // encodeInto writes whole characters only, so the kept part never ends in half of one.
  const { read } = new TextEncoder().encodeInto(clean, new Uint8Array(maxBytes - Buffer.byteLength(marker)));
  return `${clean.slice(0, read)}${marker}`;
}

/** An error as it is stored: its name, message and code made storable and bounded by `toStoredText`. */
export function toStoredErrorInfo(error: ErrorInfo): ErrorInfo {
  const name = toStoredText(error.name, 1_024);
  const message = toStoredText(error.message);
  if (error.code === undefined) return name === error.name && message === error.message ? error : { name, message };
  const code = toStoredText(error.code, 1_024);
  return name === error.name && message === error.message && code === error.code ? error : { name, message, code };
}
