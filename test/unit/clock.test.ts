import { afterEach, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../src/clock.js";
import { Queue } from "../../src/queue.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import { wrapStorage } from "../queue/support.js";

/** The longest delay Node's setTimeout takes; a longer one fires after 1 ms with a TimeoutOverflowWarning. */
const MAX_TIMER_MS = 2_147_483_647;
const DAY_MS = 86_400_000;

/** Warnings the process emits while `work` runs, and one more turn for those emitted on the next tick. */
async function warningsDuring(work: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const listener = (warning: Error) => seen.push(warning.name);
  process.on("warning", listener);
  try {
    await work();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("warning", listener);
  }
  return seen;
}

/** A real pause, for what must NOT happen within it (a timer firing early, a loop claiming again). */
const realPause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => {
  vi.restoreAllMocks();
});

/** Spies on setTimeout (still calling it): the delays it is asked for, in order. */
function recordTimeoutDelays(): number[] {
  const delays: number[] = [];
  const real = globalThis.setTimeout;
  vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: () => void, ms?: number) => {
    delays.push(ms ?? 0);
    return real(fn, ms);
  }) as typeof setTimeout);
  return delays;
}

describe("systemClock timers", () => {
  it("a timer 30 days ahead asks setTimeout for no more than it takes, warns nothing and does not fire at once", async () => {
    const delays = recordTimeoutDelays();
    let fired = false;
    let timer: { cancel: () => void } | undefined;
    const warnings = await warningsDuring(async () => {
      timer = systemClock.setTimer(() => (fired = true), 30 * DAY_MS);
      vi.restoreAllMocks();
      await realPause(30);
    });
    timer?.cancel();
    expect(warnings).not.toContain("TimeoutOverflowWarning");
    expect(fired).toBe(false);
    expect(delays.length).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
  });

  it("a delay within range is passed as it is", () => {
    const delays = recordTimeoutDelays();
    systemClock.setTimer(() => undefined, 1_234).cancel();
    expect(delays).toEqual([1_234]);
  });

  it("a queue with a job due in 30 days neither warns nor wakes its loop before then", async () => {
    let claims = 0;
    let firstClaim: () => void = () => undefined;
    const claimed = new Promise<void>((resolve) => (firstClaim = resolve));
    const storage = new MemoryStorage();
    const counted = wrapStorage(storage, {
      // No change feed: only a timer (the poll, or the wake-up set for a delayed job) can make the loop claim.
      subscribe: () => () => undefined,
      claimJobs: async (request) => {
        claims += 1;
        const result = await storage.claimJobs(request);
        firstClaim();
        return result;
      },
    });
    // The real clock; a poll far away, so only the wake-up set for the delayed job could claim again.
    const queue = new Queue({ storage: counted, capacity: { cpu: 1 }, pollIntervalMs: 600_000, logger: false });
    queue.defineHandler("later", { run: () => "done" });
    const warnings = await warningsDuring(async () => {
      await queue.start();
      await claimed;
      await queue.enqueue("later", {}, { runAt: new Date(Date.now() + 30 * DAY_MS) });
      await realPause(50);
    });
    await queue.shutdown();
    expect(claims).toBe(1);
    expect(warnings).not.toContain("TimeoutOverflowWarning");
  });
});
