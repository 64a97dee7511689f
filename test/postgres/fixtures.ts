import { randomUUID } from "node:crypto";
import { DEFAULT_BACKOFF } from "../../src/retry.js";
import type { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { ClaimResult } from "../../src/storage/storage.js";
import type { NewJob } from "../../src/types.js";

/** Text that means something in an array literal or in JSON: what a batch's columns must carry unchanged. */
export const HOSTILE = ['a"b', "back\\slash", "{x,y}", "NULL", "null", "", " , ", "\\\"}{", "é ✓ 😀", "line\nbreak\ttab"];

/** A runnable job of type "t" with everything decided, as the core would hand it over. */
export function newJob(fields: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(), type: "t", priority: "normal", payload: { n: 1 }, maxAttempts: 3, backoff: DEFAULT_BACKOFF, dependsOn: [],
    idempotencyKey: undefined, resources: {}, timeoutMs: undefined, runAt: new Date(Date.now() - 60_000), ...fields,
  };
}

/** Claims up to `limit` jobs of type "t" with no resource limits. */
export function claimAny(storage: PostgresStorage, limit = 10, workerId = "w"): Promise<ClaimResult> {
  return storage.claimJobs({ workerId, types: ["t"], limit, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() });
}

/** fetch -> (left, right) -> post, all of type "step" with their key as `name`: a diamond for enqueueMany. */
export const stepDiamond = () => [
  { key: "fetch", type: "step", payload: { name: "fetch" } },
  { key: "left", type: "step", payload: { name: "left" }, dependsOn: ["fetch"] },
  { key: "right", type: "step", payload: { name: "right" }, dependsOn: ["fetch"] },
  { key: "post", type: "step", payload: { name: "post" }, dependsOn: ["left", "right"] },
];
