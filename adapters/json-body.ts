/**
 * A `JSON.parse` reviver that refuses `__proto__` keys and `constructor.prototype`: a payload is
 * handed to handler code that may merge it into objects, where such keys rewrite prototypes.
 * Both adapters parse with it, so both refuse the same bodies (400 MALFORMED_JSON).
 */
export function refusePrototypeKeys(key: string, value: unknown): unknown {
  if (key === "__proto__") throw new SyntaxError("forbidden key __proto__");
  if (key === "constructor" && typeof value === "object" && value !== null && Object.hasOwn(value, "prototype")) {
    throw new SyntaxError("forbidden key constructor.prototype");
  }
  return value;
}

/** Parses a request body; an empty body is no body. Throws a SyntaxError on anything else that is not JSON. */
export function parseJsonBody(text: string): unknown {
  return text.trim() === "" ? undefined : JSON.parse(text, refusePrototypeKeys);
}
