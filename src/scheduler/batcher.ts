const DRAINED: Promise<void> = Promise.resolve();

interface Waiting<T, R> {
  readonly item: T;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
  /** What `add` answered for the item: `drain` waits for it. */
  readonly written: Promise<R>;
}

/**
 * Coalesces calls into batches: items added while a batch is being written go into the next
 * one, so a busy worker writes one statement batch per round trip instead of one per job. With
 * `maxInFlight` above 1, a further batch goes out beside those in flight once it is at least half
 * of `maxBatch`: a busy caller keeps several full batches in the store at once, while a trickle of
 * items still waits to be batched.
 */
export class Batcher<T, R> {
  private waiting: Waiting<T, R>[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private scheduled = false;

  constructor(
    private readonly write: (items: readonly T[]) => Promise<readonly R[]>,
    private readonly maxBatch = 200,
    /** When a batch of several fails, write each item alone, so one the store refuses fails alone. */
    private readonly isolateFailures = false,
    private readonly maxInFlight = 1,
    /** Whether an error of a write says the store is down (not that it refused the items written). */
    private readonly isOutage: (error: unknown) => boolean = () => true,
  ) {}

  /** Queues `item`; resolves with its own result once its batch is written. */
  add(item: T): Promise<R> {
    let resolve!: (result: R) => void;
    let reject!: (error: unknown) => void;
    const written = new Promise<R>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.waiting.push({ item, resolve, reject, written });
    this.schedule();
    return written;
  }

  /** Whether nothing is waiting, scheduled or being written. */
  get idle(): boolean {
    return this.waiting.length === 0 && this.inFlight.size === 0 && !this.scheduled;
  }

  /**
   * Resolves once everything added so far is written or has failed (at once when nothing is waiting:
   * a settle asks before each outcome). Items added after the call are not waited for: a handler
   * that keeps logging must not hold back the outcomes of other attempts.
   */
  drain(): Promise<void> {
    if (this.idle) return DRAINED;
    return Promise.allSettled([...this.inFlight, ...this.waiting.map((waiting) => waiting.written)]).then(() => undefined);
  }

  private schedule(): void {
    if (this.scheduled || !this.mayFlush()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /**
   * After a failed batch: each item alone, in order. Once one of them is written the store is up and
   * every other is tried too; when the first two fail as well, both with an outage's error, the store
   * is taken to be down and the rest get that error without a call each. Two items the store
   * refused say nothing of the others: those are still tried.
   */
  private async writeEachAlone(batch: readonly Waiting<T, R>[]): Promise<void> {
    let written = 0;
    let failed = 0;
    for (const [i, waiting] of batch.entries()) {
      try {
        const [result] = await this.write([waiting.item]);
        written += 1;
        waiting.resolve(result as R);
      } catch (error) {
        failed = this.isOutage(error) ? failed + 1 : 0;
        waiting.reject(error);
        if (written === 0 && failed >= 2) {
          for (const rest of batch.slice(i + 1)) rest.reject(error);
          return;
        }
      }
    }
  }

  /** Whether a batch may go out now: none is in flight, or another full enough one fits beside them. */
  private mayFlush(): boolean {
    if (this.inFlight.size === 0) return true;
    return this.inFlight.size < this.maxInFlight && this.waiting.length * 2 >= this.maxBatch;
  }

  private flush(): void {
    if (this.waiting.length === 0 || !this.mayFlush()) return;
    const batch = this.waiting.splice(0, this.maxBatch);
    const written: Promise<void> = this.write(batch.map((w) => w.item)).then(
      (results) => batch.forEach((w, i) => w.resolve(results[i] as R)),
      (error: unknown) => (this.isolateFailures && batch.length > 1 ? this.writeEachAlone(batch) : batch.forEach((w) => w.reject(error))),
    ).finally(() => {
      this.inFlight.delete(written);
      if (this.waiting.length > 0) this.schedule();
    });
    this.inFlight.add(written);
    // A burst may fill a second batch at once.
    if (this.waiting.length > 0) this.schedule();
  }
}
