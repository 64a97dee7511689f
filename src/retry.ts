import type { BackoffPolicy } from "./types.js";

/** The default: 5 attempts, exponential from 1 s up to 1 min, full jitter. */
export const DEFAULT_BACKOFF: BackoffPolicy = { type: "exponential", baseMs: 1_000, maxMs: 60_000, jitter: true };
export const DEFAULT_MAX_ATTEMPTS = 5;

/**
 * The wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed: `baseMs * 2^(attempt-1)`
 * (or `baseMs` when fixed), capped at `maxMs`; with jitter, uniform in [0, that] ("full jitter").
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const raw = policy.type === "fixed" ? policy.baseMs : policy.baseMs * 2 ** Math.min(exponent, 52);
  const capped = Math.min(policy.maxMs, raw);
  return policy.jitter ? Math.floor(random() * (capped + 1)) : capped;
}

/** When the next attempt may start. */
export function nextRunAt(policy: BackoffPolicy, attempt: number, now: number, random?: () => number): Date {
  return new Date(now + backoffDelay(policy, attempt, random));
}

/** Whether a failed attempt leaves another one. */
export function hasAttemptsLeft(attempt: number, maxAttempts: number): boolean {
  return attempt < maxAttempts;
}
