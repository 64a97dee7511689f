import { assertNever } from "../assert-never.js";
import { appliedOutcome } from "../cancel-request.js";
import { JobNotFoundError, StorageError } from "../errors.js";
import type { QueueEventName, QueueEvents } from "../events.js";
import type { RegisteredHandler } from "../handler.js";
import { copyJobRecord } from "../job-record-copy.js";
import type { MetricsRecorder, QueueMetrics } from "../metrics.js";
import type { ResolvedQueueOptions } from "../options.js";
import type { InsertedJob, JobCounts, Outcome, Settlement, SettleResult, Storage } from "../storage/storage.js";
import { toStoredText } from "../stored-text.js";
import type { JobChange, JobId, JobRecord, NewJob, NewLogLine } from "../types.js";
import { Batcher } from "./batcher.js";
import { LeaseBoundStorage } from "./lease-bound-storage.js";
import type { ExecutorHost } from "./executor.js";
import { Pruner } from "./pruner.js";
import { Rescuer } from "./rescuer.js";
import { Scheduler } from "./scheduler.js";
import { ScheduleTicker } from "../schedule/ticker.js";
import { scheduledJobRequest, type ScheduledJobSource } from "../schedule/schedule-input.js";
import { buildSubmission, type SubmissionContext } from "../submission.js";

export interface WorkerDeps {
  readonly storage: Storage;
  readonly options: ResolvedQueueOptions;
  readonly handlers: ReadonlyMap<string, RegisteredHandler>;
  readonly metrics: MetricsRecorder;
  emit<E extends QueueEventName>(event: E, payload: QueueEvents[E]): void;
}

/**
 * Everything that runs jobs in this process: the claim loop, the rescuer, batched settles and log
 * writes, and the events that follow a settle. The queue owns one and forwards to it.
 */
export class Worker implements ExecutorHost {
  readonly storage: Storage;
  readonly clock: ResolvedQueueOptions["clock"];
  readonly metrics: MetricsRecorder;
  readonly stuckGraceMs: number;
  readonly maxPayloadBytes: number;
  private readonly scheduler: Scheduler;
  private readonly rescuer: Rescuer;
  private readonly pruner: Pruner | undefined;
  private readonly ticker: ScheduleTicker;
  private readonly settles: Batcher<Settlement, SettleResult>;
  private readonly logs: Batcher<NewLogLine, undefined>;

  constructor(private readonly deps: WorkerDeps) {
    // Every call the worker's loops wait on is bounded by a lease (claim and heartbeat by the scheduler itself).
    this.storage = new LeaseBoundStorage(deps.storage, deps.options.clock, deps.options.leaseMs);
    this.clock = deps.options.clock;
    this.metrics = deps.metrics;
    this.stuckGraceMs = deps.options.stuckGraceMs;
    this.maxPayloadBytes = deps.options.maxPayloadBytes;
    // A settlement the store refuses (text or JSON it cannot hold) must not fail the others of its batch.
    // Two batches may be stored at once: one at a time was in flight for 93% of a busy worker's processing.
    this.settles = new Batcher((items) => this.storage.settle(items, new Date(this.clock.now())), 200, true, 2, (error) => error instanceof StorageError);
    this.logs = new Batcher(async (lines) => {
      await this.appendLogsOfExistingJobs(lines);
      return lines.map(() => undefined);
    }, 1_000);
    this.scheduler = new Scheduler({ storage: this.storage, options: deps.options, handlers: deps.handlers, host: this });
    this.rescuer = new Rescuer({
      storage: this.storage,
      options: deps.options,
      reportSettled: (settlement, result) =>
        result.type === "lost"
          ? Promise.resolve()
          : this.reportSettled(result, appliedOutcome(settlement.outcome, result.job, true), settlement.lease.attempt, undefined),
      reportError: (error, context) => this.reportError(error, context),
    });
    const { retention } = deps.options;
    this.pruner = retention === false
      ? undefined
      : new Pruner({ storage: this.storage, clock: this.clock, retention, reportError: (error, context) => this.reportError(error, context) });
    this.ticker = new ScheduleTicker({
      storage: this.storage,
      clock: this.clock,
      pollIntervalMs: deps.options.pollIntervalMs,
      buildJob: (schedule, tick) => this.buildScheduledJob(schedule, tick),
      onFired: (inserted) => this.afterScheduledInsert(inserted),
      reportError: (error, context) => this.reportError(error, context),
    });
  }

  start(): void {
    this.scheduler.start();
    this.rescuer.start();
    this.pruner?.start();
    this.ticker.start();
  }

  async stop(): Promise<void> {
    const { shutdownGraceMs, stuckGraceMs } = this.deps.options;
    await this.ticker.stop();
    await this.rescuer.stop();
    await this.pruner?.stop();
    await this.scheduler.stop(shutdownGraceMs, Math.min(stuckGraceMs, shutdownGraceMs));
    await this.settles.drain();
    await this.logs.drain();
  }

  wake(): void {
    this.scheduler.wake();
  }

  /** A schedule was stored: the ticker looks at once (if this worker is started). */
  wakeTicker(): void {
    this.ticker.wake();
  }

  /** The job of a schedule's tick, validated as `enqueue` validates it (payload schema, capacity). */
  async buildScheduledJob(schedule: ScheduledJobSource, tick: Date): Promise<NewJob> {
    const { jobs } = await buildSubmission([scheduledJobRequest(schedule, tick)], this.submissionContext());
    return jobs[0] as NewJob;
  }

  /** What a submission is checked against: this process's handlers, capacity and limits, now. */
  submissionContext(): SubmissionContext {
    const { handlers, options } = this.deps;
    return { handlers, capacity: options.capacity, maxPayloadBytes: options.maxPayloadBytes, maxGraphNodes: options.maxGraphNodes, now: this.clock.now() };
  }

  private afterScheduledInsert(inserted: InsertedJob): void {
    // A copy, as `enqueue` gives its listeners: what one changes is not what `afterInsert` reads.
    if (inserted.type === "inserted") this.deps.emit("job:enqueued", { job: copyJobRecord(inserted.job) });
    this.afterInsert([inserted.job]);
  }

  onChanges(changes: readonly JobChange[]): void {
    this.scheduler.onChanges(changes);
  }

  /** After an insert: wake for runnable jobs, set a wake-up for delayed ones, report instant cancels. */
  afterInsert(jobs: readonly JobRecord[]): void {
    const now = this.clock.now();
    for (const job of jobs) {
      if (job.status === "cancelled" && job.finishedAt !== undefined && job.attempt === 0) {
        this.deps.emit("job:cancelled", { job, reason: "dependency" });
      }
      if (job.status !== "pending" || !this.deps.handlers.has(job.type)) continue;
      if (job.runAt.getTime() <= now) this.scheduler.wake();
      else this.scheduler.wakeAt(job.runAt);
    }
  }

  async cancel(id: JobId): Promise<JobRecord> {
    const result = await this.storage.cancelJobs([id], new Date(this.clock.now()));
    if (result.notFound.includes(id)) throw new JobNotFoundError(id);
    if (result.cancelRequested.includes(id)) this.scheduler.cancelLocal(id);
    const jobs = await this.storage.getJobs(result.cancelled);
    for (const job of jobs) this.deps.emit("job:cancelled", { job, reason: job.id === id ? "requested" : "dependency" });
    const job = jobs.find((j) => j.id === id) ?? (await this.storage.getJob(id));
    if (job === undefined) throw new JobNotFoundError(id);
    return job;
  }

  async retry(id: JobId): Promise<JobRecord> {
    const { job } = await this.storage.retryJob(id, new Date(this.clock.now()));
    this.scheduler.wake();
    return job;
  }

  snapshot(jobs: JobCounts): QueueMetrics {
    const recorder = this.metrics;
    return {
      jobs,
      waitTimeMs: recorder.waitTimes(),
      runTimeMs: recorder.runTimes(),
      failureRate: recorder.failureRate(),
      throughputPerSecond: recorder.throughputPerSecond(),
      windowMs: recorder.windowMs,
      running: this.scheduler.activeCount,
      concurrency: this.deps.options.concurrency,
      resources: { capacity: this.deps.options.capacity, inUse: this.scheduler.inUse },
      unschedulable: this.scheduler.unschedulableCount,
      stuck: recorder.stuck,
    };
  }

  settle(settlement: Settlement): Promise<SettleResult> {
    return this.settles.add(settlement);
  }

  appendLog(line: NewLogLine): void {
    // Log lines are written in batches: one message a store cannot hold would take the whole batch with it;
    // and one runaway message is not worth megabytes per line.
    const message = toStoredText(line.message);
    this.logs.add(message === line.message ? line : { ...line, message }).catch((error: unknown) => this.reportError(error, "log write"));
  }

  flushLogs(): Promise<void> | undefined {
    return this.logs.idle ? undefined : this.logs.drain();
  }

  emit<E extends QueueEventName>(event: E, payload: QueueEvents[E]): void {
    this.deps.emit(event, payload);
  }

  /**
   * Writes a batch of handler lines. A line of a job that no longer exists (retention deleted it,
   * finished, while a handler that ignored its signal still logged) fails the whole statement: its
   * lines are dropped, reported, and the rest of the batch, other jobs' lines, written after all.
   */
  private async appendLogsOfExistingJobs(lines: readonly NewLogLine[]): Promise<void> {
    let rest = lines;
    while (rest.length > 0) {
      try {
        await this.storage.appendLogs(rest);
        return;
      } catch (error) {
        if (!(error instanceof JobNotFoundError)) throw error;
        const gone = error.jobId;
        const kept = rest.filter((line) => line.jobId !== gone);
        // A store that names a job the batch does not hold would loop: the batch fails instead.
        if (kept.length === rest.length) throw error;
        this.reportError(error, `log lines of job ${gone}, which no longer exists, dropped`);
        rest = kept;
      }
    }
  }

  reportError(error: unknown, context: string): void {
    this.deps.emit("queue:error", { error, context });
  }

  /** Emits the events that follow a stored outcome and wakes the loop for what it released. */
  /** Emits the events of `outcome`, the outcome as stored (see `appliedOutcome`). */
  async reportSettled(result: SettleResult, outcome: Outcome, attempt: number, runTimeMs: number | undefined): Promise<void> {
    if (result.type === "lost") return;
    const { job } = result;
    const { emit } = this.deps;
    if (runTimeMs !== undefined && outcome.type !== "interrupted") this.metrics.recordFinish(job.type, runTimeMs, outcome.type !== "completed");
    switch (outcome.type) {
      case "completed":
        this.metrics.recordOutcome(job.type, "completed");
        emit("job:completed", { job, result: job.result, runTimeMs: runTimeMs ?? 0 });
        break;
      case "retry":
        this.metrics.recordOutcome(job.type, "retried");
        emit("job:retrying", { job, error: outcome.error, attempt, runAt: outcome.runAt });
        if (this.deps.handlers.has(job.type)) this.scheduler.wakeAt(outcome.runAt);
        break;
      case "failed":
        this.metrics.recordOutcome(job.type, "failed");
        emit("job:failed", { job, error: outcome.error, attempt });
        break;
      case "cancelled":
        emit("job:cancelled", { job, reason: "requested" });
        break;
      case "interrupted":
        emit("job:interrupted", { job, attempt });
        break;
      default:
        assertNever(outcome);
    }
    if (result.unblocked.length > 0) this.scheduler.wake();
    if (result.cancelled.length > 0) {
      for (const dependent of await this.storage.getJobs(result.cancelled)) emit("job:cancelled", { job: dependent, reason: "dependency" });
    }
  }
}
