/**
 * The latest `capacity` timed samples, oldest first, kept in two fixed arrays: adding one allocates
 * nothing, and once full it takes the place of the oldest. (An array of sample objects trimmed with
 * `shift()` cost a worker about a microsecond a job, copying the window at every finished attempt.)
 * The arrays are made at the first sample: a queue that only enqueues never records one.
 */
export class SampleWindow {
  private times: Float64Array | undefined;
  private values: Float64Array | undefined;
  private first = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a whole number of at least 1, got ${capacity}`);
  }

  add(at: number, value: number): void {
    this.times ??= new Float64Array(this.capacity);
    this.values ??= new Float64Array(this.capacity);
    const slot = (this.first + this.size) % this.capacity;
    this.times[slot] = at;
    this.values[slot] = value;
    if (this.size < this.capacity) this.size++;
    else this.first = (this.first + 1) % this.capacity;
  }

  /** Forgets the samples taken before `since`; answers the values of the others, oldest first. */
  valuesSince(since: number): number[] {
    const { times, values: stored } = this;
    if (times === undefined || stored === undefined) return [];
    while (this.size > 0 && (times[this.first] as number) < since) {
      this.first = (this.first + 1) % this.capacity;
      this.size--;
    }
    const values = new Array<number>(this.size);
    for (let i = 0; i < this.size; i++) values[i] = stored[(this.first + i) % this.capacity] as number;
    return values;
  }
}
