import { expect, it } from "vitest";
import { newJobId } from "../../src/job-id.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

it("makes UUIDs of version 7 whose first 48 bits are the time they were made", () => {
  const before = Date.now();
  const id = newJobId();
  const after = Date.now();
  expect(id).toMatch(UUID_V7);
  const ms = Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);
  expect(ms).toBeGreaterThanOrEqual(before);
  expect(ms).toBeLessThanOrEqual(after);
});

it("makes ids that sort in the order they were made, and never the same one twice", () => {
  const ids = Array.from({ length: 10_000 }, () => newJobId());
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).toEqual(ids);
});
