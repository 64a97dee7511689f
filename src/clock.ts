/** A timer started through a `Clock`. */
export interface TimerHandle {
  readonly cancel: () => void;
}

/** The only source of time in jobgraph: the queue takes one, tests inject a `ManualClock`. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms`. */
  setTimer(fn: () => void, ms: number): TimerHandle;
}

/**
 * The longest delay `setTimeout` takes (2^31 - 1 ms, about 24.8 days): Node fires a longer one
 * after 1 ms, with a TimeoutOverflowWarning, so a job due in a month would wake the loop at once.
 */
const MAX_TIMER_MS = 2_147_483_647;

/** The real clock. A delay past what `setTimeout` takes is waited out in steps it does take. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    let handle: ReturnType<typeof setTimeout>;
    const arm = (left: number): void => {
      handle = left > MAX_TIMER_MS ? setTimeout(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
    };
    arm(ms);
    return { cancel: () => clearTimeout(handle) };
  },
};

interface PendingTimer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/** A clock that moves only when told to; timers fire in order of due time as it advances. */
export class ManualClock implements Clock {
  private current: number;
  private timers: PendingTimer[] = [];
  private nextId = 0;

  constructor(start: number | Date = Date.UTC(2026, 0, 1)) {
    this.current = typeof start === "number" ? start : start.getTime();
  }

  now(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.nextId++, at: this.current + Math.max(0, ms), fn };
    this.timers.push(timer);
    return { cancel: () => void (this.timers = this.timers.filter((t) => t !== timer)) };
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /**
   * Moves time forward by `ms`, firing each due timer at its own time and letting
   * promise callbacks settle between them.
   */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.fn();
    }
    this.current = target;
    await settle();
  }
}

/** Lets queued promise callbacks and I/O callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
