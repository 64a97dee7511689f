import { createHash } from "node:crypto";
import { ValidationError } from "./errors.js";
import type { Json } from "./types.js";

/**
 * Deepest nesting of arrays and objects accepted in a payload or result. Far below what the engine's
 * own recursion (JSON.stringify, schema validators) and PostgreSQL's jsonb parser survive, and far
 * above what any job needs.
 */
export const MAX_JSON_DEPTH = 1_000;

/**
 * Checks that `value` is JSON a database would store unchanged and returns the stored form
 * (dates become ISO strings through their `toJSON`). Functions, symbols, BigInt, non-finite
 * numbers, `undefined` array items, cycles and nesting deeper than `MAX_JSON_DEPTH` are rejected
 * with a `ValidationError` naming the path; so is a value whose getters or proxy traps throw.
 * Each property is read once, by an iterative walk, so no input can exhaust the call stack.
 */
export function toJsonValue(value: unknown, what: string, maxBytes = Number.POSITIVE_INFINITY): Json {
  // What most handlers return (nothing, a flag, a count) is its own JSON: no copy to make. Any such
  // value's JSON is at most 24 bytes; a smaller limit, or a number that is not finite, takes the long way.
  if (maxBytes >= 24) {
    if (value === undefined || value === null) return null;
    if (typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value))) return value;
  }
  let copy: unknown;
  try {
    copy = plainCopy(value, what, maxBytes);
  } catch (cause) {
    if (cause instanceof ValidationError) throw cause;
    throw new ValidationError(`${what} could not be read`, [{ path: what, message: "could not be read (a getter, toJSON or proxy threw)" }], cause);
  }
  // Plain data of bounded depth: stringify cannot throw nor call user code.
  const text = JSON.stringify(copy ?? null);
  // UTF-8 takes at most 3 bytes for each UTF-16 unit: only a text that could be too large is counted.
  if (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes) tooLarge(what, maxBytes);
  return JSON.parse(text) as Json;
}

/** A container of the copy whose members are still to be read from `source`. */
interface OpenContainer {
  readonly source: object;
  readonly target: unknown[] | Record<string, unknown>;
  readonly path: string;
  readonly depth: number;
}

/** What one copy has read so far: its limit, a lower bound of its JSON text's length, and the objects it is inside. */
interface CopyState {
  readonly what: string;
  readonly maxBytes: number;
  bytes: number;
  readonly stack: (OpenContainer | { readonly leave: object })[];
  readonly ancestors: Set<object>;
}

/**
 * The path of member `key` of the container at `path` (of the root when `key` is undefined: `path`
 * itself): made only for an error or a container, not for every member.
 */
const memberPath = (path: string, key: string | number | undefined): string =>
  key === undefined ? path : typeof key === "number" ? `${path}[${key}]` : `${path}.${key}`;

function grow(state: CopyState, n: number): void {
  state.bytes += n;
  if (state.bytes > state.maxBytes) tooLarge(state.what, state.maxBytes);
}

/**
 * `input`, member `key` of the container at `path` (the root at `path` when `key` is undefined), as
 * a plain value, a new container queued to be filled, or undefined.
 */
function convert(state: CopyState, input: unknown, key: string | number | undefined, path: string, depth: number): unknown {
  let value = input;
  if (typeof value === "object" && value !== null && typeof (value as { toJSON?: unknown }).toJSON === "function") {
    value = (value as { toJSON: (key: string) => unknown }).toJSON(key === undefined ? "" : String(key));
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean) value = value.valueOf();
  switch (typeof value) {
    case "string":
      if (!storableText(value)) reject(memberPath(path, key), UNSTORABLE);
      grow(state, value.length + 2);
      return value;
    case "boolean":
      grow(state, 4);
      return value;
    case "undefined":
      return undefined;
    case "number":
      if (!Number.isFinite(value)) reject(memberPath(path, key), "is not a finite number");
      grow(state, 1);
      return value;
    case "bigint":
    case "function":
    case "symbol":
      return reject(memberPath(path, key), `is a ${typeof value}, not JSON`);
    case "object":
      break;
  }
  if (value === null) {
    grow(state, 4);
    return null;
  }
  const object = value as object;
  if (state.ancestors.has(object)) reject(memberPath(path, key), "refers back to itself (a cycle)");
  if (depth >= MAX_JSON_DEPTH) {
    throw new ValidationError(`${state.what} is nested deeper than ${MAX_JSON_DEPTH} levels`, [{ path: state.what, message: `nested deeper than ${MAX_JSON_DEPTH} levels` }]);
  }
  grow(state, 2);
  const target: unknown[] | Record<string, unknown> = Array.isArray(object) ? [] : (Object.create(null) as Record<string, unknown>);
  state.stack.push({ source: object, target, path: memberPath(path, key), depth: depth + 1 });
  return target;
}

/**
 * Copies `root` into null-prototype objects and arrays of plain values, as JSON.stringify would
 * read it (`toJSON` called, boxed primitives unboxed, `undefined` members of objects dropped),
 * with an explicit stack. A `leave` entry marks where an object's subtree ends, so `ancestors` is
 * always the chain from the root to what is being read: meeting one of them again is a cycle.
 */
function plainCopy(root: unknown, what: string, maxBytes: number): unknown {
  const state: CopyState = { what, maxBytes, bytes: 0, stack: [], ancestors: new Set<object>() };
  const { stack, ancestors } = state;
  const result = convert(state, root, undefined, what, 0);
  while (stack.length > 0) {
    const entry = stack.pop() as OpenContainer | { readonly leave: object };
    if ("leave" in entry) {
      ancestors.delete(entry.leave);
      continue;
    }
    const { source, target, path, depth } = entry;
    ancestors.add(source);
    stack.push({ leave: source });
    if (Array.isArray(target)) {
      const items = source as unknown[];
      const length = items.length;
      grow(state, Math.max(0, length - 1)); // a comma between items
      for (let i = 0; i < length; i++) {
        const item = items[i];
        if (item === undefined && i in items) reject(memberPath(path, i), "is undefined");
        target.push(item === undefined ? null : convert(state, item, i, path, depth));
      }
    } else {
      for (const [key, item] of Object.entries(source)) {
        if (!storableText(key)) reject(`${path}.${JSON.stringify(key).slice(1, -1)}`, `(a key) ${UNSTORABLE}`);
        const member = convert(state, item, key, path, depth);
        if (member === undefined) continue;
        grow(state, key.length + 3);
        target[key] = member;
      }
    }
  }
  return result;
}

function tooLarge(what: string, maxBytes: number): never {
  throw new ValidationError(`${what} is larger than ${maxBytes} bytes`, [{ path: what, message: "too large" }]);
}

/** PostgreSQL's text and jsonb hold neither U+0000 nor half a surrogate pair: refused up front, in every store alike. */
const UNSTORABLE = "contains U+0000 or a lone surrogate, which PostgreSQL cannot store";
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

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
