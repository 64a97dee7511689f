import pTimeout from "p-timeout";
import type { Clock, TimerHandle } from "./clock.js";

/** The timers p-timeout takes, in its own types. */
type Timers = { setTimeout: typeof globalThis.setTimeout; clearTimeout: typeof globalThis.clearTimeout };

/**
 * `work`, or the error `fail` throws once `work` has not settled within `ms` of `clock` (p-timeout,
 * its timer on the injectable clock so a `ManualClock` drives it in tests). Undefined `ms`: no
 * deadline. The timer is cleared as soon as `work` settles.
 *
 * `extraTurn`: once `ms` has passed, wait one more turn of the clock before giving up. After the
 * process itself stood still (SIGSTOP, a long GC or CPU burst), the deadline's timer fires before
 * an answer already waiting on a socket has been read; that turn lets the answer win.
 */
export function withTimeout<T>(clock: Clock, work: PromiseLike<T>, ms: number | undefined, fail: () => Error, extraTurn = false): Promise<T> {
  if (ms === undefined) return Promise.resolve(work);
  return pTimeout(work, {
    milliseconds: ms,
    fallback: () => {
      throw fail();
    },
    customTimers: clockTimers(clock, extraTurn),
  });
}

/** p-timeout's `setTimeout` and `clearTimeout` on `clock`, the timer firing one clock turn late when `extraTurn`. */
export function clockTimers(clock: Clock, extraTurn = false): Timers {
  const setTimer = (fn: () => void, ms: number): { current: TimerHandle } => {
    const held = { current: clock.setTimer(() => (extraTurn ? (held.current = clock.setTimer(fn, 0)) : fn()), ms) };
    return held;
  };
  return {
    setTimeout: ((fn: () => void, ms: number) => setTimer(fn, ms)) as unknown as typeof globalThis.setTimeout,
    clearTimeout: ((held: { current: TimerHandle } | undefined) => held?.current.cancel()) as unknown as typeof globalThis.clearTimeout,
  };
}
