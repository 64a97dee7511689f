import type { Json } from "../types.js";

/** What PostgreSQL's jsonb would keep: dates become strings, `undefined` becomes null, a BigInt throws. */
export function toJson(value: unknown): Json {
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as Json);
}
