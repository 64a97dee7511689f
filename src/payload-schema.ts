import type { StandardSchemaV1 } from "@standard-schema/spec";
import { ValidationError } from "./errors.js";

/**
 * A payload schema: any Standard Schema (zod 4, zod 3.24+, valibot, arktype, effect schema...), so
 * the application's own schema library works, whichever copy or major it has.
 */
export type PayloadSchema<Input = unknown, Output = Input> = StandardSchemaV1<Input, Output>;

/** Whether `value` implements Standard Schema v1: a `~standard` object with version 1 and a `validate` function. */
export function isStandardSchema(value: unknown): value is PayloadSchema {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  const props = (value as { "~standard"?: unknown })["~standard"];
  if (typeof props !== "object" || props === null) return false;
  const { version, validate } = props as { version?: unknown; validate?: unknown };
  return version === 1 && typeof validate === "function";
}

/**
 * Validates `payload` with the handler's schema (sync or async) and answers the schema's output.
 * A failure becomes a `ValidationError` whose issues have dotted paths under `at` (`payload.items.0.sku`);
 * a schema that throws or answers something that is not a result does too, with the cause kept, so a
 * broken schema fails the job or the enqueue instead of the worker.
 */
export async function validatePayload(schema: PayloadSchema, payload: unknown, type: string, at: string): Promise<unknown> {
  let result: StandardSchemaV1.Result<unknown>;
  try {
    result = await schema["~standard"].validate(payload);
  } catch (error) {
    const message = `the schema of ${type} threw: ${describe(error)}`;
    throw new ValidationError(message, [{ path: at, message: "the schema threw while validating" }], error);
  }
  if (typeof result !== "object" || result === null) {
    throw new ValidationError(`the schema of ${type} answered no Standard Schema result`, [{ path: at, message: "the schema answered no result" }]);
  }
  // The spec: a falsy `issues` is a success.
  if (!result.issues) return (result as StandardSchemaV1.SuccessResult<unknown>).value;
  const issues = Array.from(result.issues, (issue) => ({ path: [at, ...(issue.path ?? []).map(segmentName)].join("."), message: String(issue.message) }));
  throw new ValidationError(`payload does not match the schema of ${type}: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, issues);
}

/** A path segment is a key, or (Standard Schema's `PathSegment`) an object holding one. */
function segmentName(segment: PropertyKey | StandardSchemaV1.PathSegment): string {
  const key = typeof segment === "object" && segment !== null ? segment.key : segment;
  return typeof key === "symbol" ? key.toString() : String(key);
}

function describe(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return "an unprintable value";
  }
}
