import { createHash } from "node:crypto";
import { ValidationError } from "./errors.js";
import type { Json } from "./types.js";

/**
 * Checks that `value` is JSON a database would store unchanged and returns the stored form
 * (dates become ISO strings through their `toJSON`). Functions, symbols, BigInt, non-finite
 * numbers, `undefined` array items and cycles are rejected with a `ValidationError` naming the path.
 */
export function toJsonValue(value: unknown, what: string, maxBytes = Number.POSITIVE_INFINITY): Json {
  assertJson(value, what, new Set());
  let text: string;
  try {
    text = JSON.stringify(value ?? null);
  } catch (cause) {
    throw new ValidationError(`${what} is not JSON`, [{ path: what, message: "not serializable" }], cause);
  }
  // A toJSON method's output is not walked above; in the text, what PostgreSQL cannot store is an escape.
  if (UNSTORABLE_ESCAPE.test(text)) reject(what, `${UNSTORABLE} (in what a toJSON method returned)`);
  if (text.length > maxBytes && Buffer.byteLength(text) > maxBytes) {
    throw new ValidationError(`${what} is larger than ${maxBytes} bytes`, [{ path: what, message: "too large" }]);
  }
  return JSON.parse(text) as Json;
}

function assertJson(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case "string":
      if (!storableText(value)) reject(path, UNSTORABLE);
      return;
    case "boolean":
    case "undefined":
      return;
    case "number":
      if (!Number.isFinite(value)) reject(path, "is not a finite number");
      return;
    case "bigint":
    case "function":
    case "symbol":
      reject(path, `is a ${typeof value}, not JSON`);
      return;
    case "object":
      break;
  }
  if (value === null) return;
  const object = value as object;
  if (seen.has(object)) reject(path, "refers back to itself (a cycle)");
  if (typeof (object as { toJSON?: unknown }).toJSON === "function") return;
  seen.add(object);
  if (Array.isArray(object)) {
    object.forEach((item: unknown, i) => {
      if (item === undefined) reject(`${path}[${i}]`, "is undefined");
      assertJson(item, `${path}[${i}]`, seen);
    });
  } else {
    for (const [key, item] of Object.entries(object)) {
      if (!storableText(key)) reject(`${path}.${JSON.stringify(key).slice(1, -1)}`, `(a key) ${UNSTORABLE}`);
      assertJson(item, `${path}.${key}`, seen);
    }
  }
  seen.delete(object);
}

/** PostgreSQL's text and jsonb hold neither U+0000 nor half a surrogate pair: refused up front, in every store alike. */
const UNSTORABLE = "contains U+0000 or a lone surrogate, which PostgreSQL cannot store";
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** JSON.stringify writes U+0000 as `\u0000` and a lone surrogate as `\udxxx` (an escape: an odd run of backslashes). */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/;

/** Whether `text` can be stored as PostgreSQL text or in jsonb: no U+0000, no lone surrogate. */
export function storableText(text: string): boolean {
  return !text.includes("\u0000") && !LONE_SURROGATE.test(text);
}

/** `text` with each U+0000 and lone surrogate replaced by U+FFFD. */
export function toStorableText(text: string): string {
  return text.replaceAll("\u0000", "\uFFFD").replace(new RegExp(LONE_SURROGATE.source, "g"), "\uFFFD");
}

function reject(path: string, message: string): never {
  throw new ValidationError(`${path} ${message}`, [{ path, message }]);
}

/** JSON with object keys sorted, so equal values have equal text. */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item: Json) => canonicalJson(item)).join(",")}]`;
  const entries = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, Json>)[key] as Json)}`);
  return `{${entries.join(",")}}`;
}

/** The idempotency key of `deduplicate: "payload"`: a hash of the type and the canonical payload. */
export function payloadKey(type: string, payload: Json): string {
  return `payload:${createHash("sha256").update(type).update("\u0000").update(canonicalJson(payload)).digest("hex")}`;
}
