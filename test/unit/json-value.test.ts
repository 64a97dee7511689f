import { expect, it } from "vitest";
import { ValidationError } from "../../src/errors.js";
import { toJsonValue } from "../../src/json-value.js";

it("takes nothing, flags and finite numbers as they are, and stores nothing as null", () => {
  expect(toJsonValue(undefined, "result")).toBeNull();
  expect(toJsonValue(null, "result")).toBeNull();
  expect(toJsonValue(false, "result")).toBe(false);
  expect(toJsonValue(-0.5e-300, "result")).toBe(-0.5e-300);
});

it("refuses a number that is not finite, whatever the limit", () => {
  for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    expect(() => toJsonValue(value, "result")).toThrow(ValidationError);
    expect(() => toJsonValue(value, "result", 3)).toThrow(ValidationError);
  }
});

it("holds a flag or a number to the byte limit too", () => {
  expect(() => toJsonValue(true, "payload", 3)).toThrow(/larger than 3 bytes|bytes/);
  expect(() => toJsonValue(123456, "payload", 3)).toThrow(ValidationError);
  expect(toJsonValue(123, "payload", 3)).toBe(123);
});
