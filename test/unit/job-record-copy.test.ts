import { expect, it } from "vitest";
import { copyJobRecord } from "../../src/job-record-copy.js";
import type { JobRecord } from "../../src/types.js";

const job = (): JobRecord => ({
  id: "0190a000-0000-7000-8000-000000000001", type: "t", status: "running", priority: "normal",
  payload: JSON.parse('{"items":[1,{"deep":true}],"__proto__":{"polluted":1}}') as JobRecord["payload"],
  result: undefined, error: { name: "E", message: "m" }, attempt: 1, maxAttempts: 3,
  backoff: { type: "fixed", baseMs: 10, maxMs: 10, jitter: false }, dependsOn: ["x"], idempotencyKey: undefined,
  resources: { cpu: 1 }, timeoutMs: undefined, runAt: new Date(1), createdAt: new Date(2), updatedAt: new Date(3),
  startedAt: new Date(4), finishedAt: undefined, attempts: [{ attempt: 1, startedAt: new Date(4), error: { name: "E", message: "m" } }],
});

it("copies every member so that changing the original changes nothing of the copy", () => {
  const original = job();
  const copy = copyJobRecord(original);
  expect(copy).toEqual(original);
  ((original.payload as { items: unknown[] }).items[1] as { deep: boolean }).deep = false;
  (original.dependsOn as string[]).push("y");
  (original.resources as Record<string, number>).cpu = 9;
  original.runAt.setTime(99);
  original.attempts[0]!.startedAt.setTime(99);
  (original.attempts[0]!.error as { message: string }).message = "changed";
  expect(copy).toEqual(job());
});

it("keeps a payload's own __proto__ member as a member, never as the prototype", () => {
  const copy = copyJobRecord(job());
  const payload = copy.payload as Record<string, unknown>;
  expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
  expect(Object.keys(payload)).toEqual(["items", "__proto__"]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(JSON.stringify(copy.payload)).toBe('{"items":[1,{"deep":true}],"__proto__":{"polluted":1}}');
});
