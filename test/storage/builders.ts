import { randomUUID } from "node:crypto";
import type { ClaimRequest } from "../../src/storage/storage.js";
import type { ErrorInfo, NewJob } from "../../src/types.js";

/** A runnable NewJob with a fresh id and ordinary settings; override what a test is about. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(),
    type: "test.job",
    priority: "normal",
    payload: {},
    maxAttempts: 3,
    backoff: { type: "exponential", baseMs: 1_000, maxMs: 60_000, jitter: true },
    dependsOn: [],
    idempotencyKey: undefined,
    resources: {},
    timeoutMs: undefined,
    runAt: new Date(Date.now() - 1_000),
    ...overrides,
  };
}

/** A claim of any job of `types`, with room for everything and a long lease, unless overridden. */
export function claimRequest(types: readonly string[], overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return {
    workerId: "worker-1",
    types,
    limit: 100,
    free: {},
    capacity: {},
    starvationMs: 3_600_000,
    leaseMs: 30_000,
    now: new Date(),
    ...overrides,
  };
}

/** An attempt's error as the core would record it. */
export function attemptError(message = "boom"): ErrorInfo {
  return { name: "Error", message, code: "E_TEST" };
}

/** Seconds from now, as a Date (negative for the past). */
export function secondsFromNow(seconds: number): Date {
  return new Date(Date.now() + seconds * 1_000);
}

/**
 * Waits for a fact: runs `check` until it stops throwing, every `intervalMs`, and rethrows its
 * last failure after `timeoutMs`. For what a store judges by its own clock or delivers later.
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 5_000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
