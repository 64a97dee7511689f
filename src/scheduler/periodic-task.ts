import type { Clock, TimerHandle } from "../clock.js";

/**
 * Runs one pass of background work every `intervalMs` on the queue's clock, never two at once:
 * the next interval starts when a pass has ended. A failed pass is reported and the next one runs.
 */
export class PeriodicTask {
  private timer: TimerHandle | undefined;
  private active = false;
  private pass: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly runPass: () => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Whether the task is started and not stopped: a long pass checks it to stop early. */
  get running(): boolean {
    return this.active;
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.schedule();
  }

  /** Stops scheduling and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.active = false;
    this.timer?.cancel();
    await this.pass;
  }

  private schedule(): void {
    this.timer = this.clock.setTimer(() => {
      this.pass = this.runPass()
        .catch((error: unknown) => this.onError(error))
        .finally(() => {
          if (this.active) this.schedule();
        });
    }, this.intervalMs);
  }
}
