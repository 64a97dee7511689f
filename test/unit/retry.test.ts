import { describe, expect, it } from "vitest";
import { DEFAULT_BACKOFF, backoffDelay, hasAttemptsLeft, nextRunAt } from "../../src/retry.js";
import type { BackoffPolicy } from "../../src/types.js";

const exponential: BackoffPolicy = { type: "exponential", baseMs: 100, maxMs: 10_000, jitter: false };
const fixed: BackoffPolicy = { type: "fixed", baseMs: 250, maxMs: 10_000, jitter: false };
const ALMOST_ONE = 1 - Number.EPSILON / 2; // the largest value Math.random can return

describe("backoffDelay without jitter", () => {
  it.each<{ policy: BackoffPolicy; attempt: number; delay: number }>([
    { policy: exponential, attempt: 1, delay: 100 },
    { policy: exponential, attempt: 2, delay: 200 },
    { policy: exponential, attempt: 3, delay: 400 },
    { policy: exponential, attempt: 4, delay: 800 },
    { policy: exponential, attempt: 7, delay: 6_400 },
    { policy: exponential, attempt: 8, delay: 10_000 }, // 12,800 capped
    { policy: exponential, attempt: 20, delay: 10_000 },
    { policy: exponential, attempt: 0, delay: 100 }, // never below the base
    { policy: { ...exponential, maxMs: 300 }, attempt: 2, delay: 200 },
    { policy: { ...exponential, maxMs: 300 }, attempt: 3, delay: 300 },
    { policy: fixed, attempt: 1, delay: 250 },
    { policy: fixed, attempt: 2, delay: 250 },
    { policy: fixed, attempt: 50, delay: 250 },
    { policy: { ...fixed, maxMs: 100 }, attempt: 1, delay: 100 }, // the cap applies to fixed too
  ])("$policy.type base $policy.baseMs max $policy.maxMs, attempt $attempt -> $delay ms", ({ policy, attempt, delay }) => {
    expect(backoffDelay(policy, attempt)).toBe(delay);
  });

  it("doubles exactly from one attempt to the next until the cap", () => {
    const delays = Array.from({ length: 10 }, (_, i) => backoffDelay(exponential, i + 1));
    expect(delays).toEqual([100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000, 10_000]);
  });

  it.each([100, 1_000, 1_000_000, 2 ** 31, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Infinity])(
    "stays finite and capped at huge attempt %d",
    (attempt) => {
      expect(backoffDelay(exponential, attempt)).toBe(10_000);
      expect(backoffDelay(DEFAULT_BACKOFF, attempt, () => ALMOST_ONE)).toBe(60_000);
      expect(backoffDelay({ ...exponential, baseMs: 1e300 }, attempt)).toBe(10_000);
      expect(Number.isFinite(nextRunAt(exponential, attempt, 0).getTime())).toBe(true);
    },
  );
});

describe("backoffDelay with jitter", () => {
  const jittered: BackoffPolicy = { ...exponential, jitter: true };

  it.each<{ attempt: number; random: number; delay: number }>([
    { attempt: 1, random: 0, delay: 0 },
    { attempt: 1, random: 0.5, delay: 50 },
    { attempt: 1, random: ALMOST_ONE, delay: 100 },
    { attempt: 3, random: 0, delay: 0 },
    { attempt: 3, random: 0.5, delay: 200 },
    { attempt: 3, random: ALMOST_ONE, delay: 400 },
    { attempt: 30, random: 0, delay: 0 },
    { attempt: 30, random: 0.5, delay: 5_000 },
    { attempt: 30, random: ALMOST_ONE, delay: 10_000 },
  ])("attempt $attempt, random $random -> $delay ms", ({ attempt, random, delay }) => {
    expect(backoffDelay(jittered, attempt, () => random)).toBe(delay);
  });

  it.each([0, 0.5, 0.999, 0.999999, ALMOST_ONE])("stays within [0, capped] and whole for random %d", (random) => {
    for (const policy of [jittered, { ...fixed, jitter: true }, DEFAULT_BACKOFF]) {
      for (let attempt = 1; attempt <= 64; attempt++) {
        const capped = backoffDelay({ ...policy, jitter: false }, attempt);
        const delay = backoffDelay(policy, attempt, () => random);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(capped);
        expect(Number.isInteger(delay)).toBe(true);
      }
    }
  });

  it("uses Math.random when no source is given", () => {
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(jittered, 3);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(400);
    }
  });
});

describe("nextRunAt", () => {
  const now = Date.UTC(2030, 0, 1);

  it.each<{ policy: BackoffPolicy; attempt: number; random?: number; at: number }>([
    { policy: exponential, attempt: 1, at: now + 100 },
    { policy: exponential, attempt: 4, at: now + 800 },
    { policy: exponential, attempt: 99, at: now + 10_000 },
    { policy: fixed, attempt: 3, at: now + 250 },
    { policy: { ...exponential, jitter: true }, attempt: 2, random: 0, at: now },
    { policy: { ...exponential, jitter: true }, attempt: 2, random: 0.5, at: now + 100 },
  ])("$policy.type attempt $attempt -> now + backoff", ({ policy, attempt, random, at }) => {
    const runAt = random === undefined ? nextRunAt(policy, attempt, now) : nextRunAt(policy, attempt, now, () => random);
    expect(runAt).toBeInstanceOf(Date);
    expect(runAt.getTime()).toBe(at);
  });
});

describe("hasAttemptsLeft", () => {
  it.each<[attempt: number, maxAttempts: number, left: boolean]>([
    [1, 5, true],
    [4, 5, true],
    [5, 5, false],
    [6, 5, false],
    [1, 1, false],
    [0, 1, true],
  ])("attempt %d of %d -> %s", (attempt, maxAttempts, left) => {
    expect(hasAttemptsLeft(attempt, maxAttempts)).toBe(left);
  });
});
