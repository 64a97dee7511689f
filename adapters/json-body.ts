import { HttpError } from "./http-errors.js";

/**
 * Refuses `__proto__` keys and `constructor.prototype` anywhere in a parsed body: a payload is
 * handed to handler code that may merge it into objects, where such keys rewrite prototypes.
 * Both adapters parse without a reviver (V8's JSON.parse needs no call stack for nesting, a
 * reviver does) and then walk the value with an explicit stack, so no nesting depth can overflow
 * here; the queue refuses payloads nested too deep with its own `ValidationError`.
 * Throws an HttpError 400 `VALIDATION` naming the key (the body is valid JSON, just refused).
 */
export function refusePrototypeKeys(value: unknown): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item !== "object" || item === null) continue;
    if (Array.isArray(item)) {
      for (const member of item) stack.push(member);
      continue;
    }
    for (const [key, member] of Object.entries(item)) {
      if (key === "__proto__") throw new HttpError(400, "VALIDATION", "the request body has a forbidden key: __proto__");
      if (key === "constructor" && typeof member === "object" && member !== null && Object.hasOwn(member, "prototype")) {
        throw new HttpError(400, "VALIDATION", "the request body has a forbidden key: constructor.prototype");
      }
      stack.push(member);
    }
  }
}

/** Parses a request body; an empty body is no body. Throws a SyntaxError on anything else that is not JSON, an HttpError on a forbidden key. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === "") return undefined;
  const value: unknown = JSON.parse(text);
  refusePrototypeKeys(value);
  return value;
}
