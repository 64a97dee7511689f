import type { Clock, TimerHandle } from "../clock.js";
import { JobTimeoutError, LeaseLostError, QueueClosedError, StorageError, toErrorInfo } from "../errors.js";
import type { QueueEventName, QueueEvents } from "../events.js";
import type { RegisteredHandler } from "../handler.js";
import { toJsonValue } from "../json-value.js";
import { copyJobRecord } from "../job-record-copy.js";
import type { MetricsRecorder } from "../metrics.js";
import { validatePayload } from "../payload-schema.js";
import { MAX_STORED_TEXT_BYTES, toStoredText } from "../stored-text.js";
import type { AttemptTransaction, ClaimedJob, Lease, Outcome, Settlement, SettleResult, Storage } from "../storage/storage.js";
import { LOG_LEVELS, type Json, type JobId, type JobRecord, type LogLevel, type NewLogLine } from "../types.js";
import { attemptContext, type AttemptServices } from "./attempt-context.js";
import { appliedOutcome, CANCELLED, outcomeUnderCancelRequest } from "../cancel-request.js";
import { endedWith, failureOutcome } from "./outcome.js";

/** Waits between tries of a settle that failed on a storage error; then the lease's expiry takes over. */
const SETTLE_RETRY_DELAYS_MS = [100, 400, 1_600] as const;

/** What every attempt starts with: nothing to wait for before its outcome is stored. */
const NOTHING_PENDING: Promise<void> = Promise.resolve();

/** A settle's answer, with the outcome it stored (not always the one asked for: see `appliedOutcome`). */
interface Stored {
  readonly result: SettleResult;
  readonly stored: Outcome;
}

/** Why an attempt's signal aborted. */
export type AbortCause = "timeout" | "cancel" | "shutdown" | "lease-lost" | "lease-unconfirmed";

/** What an attempt needs from the worker running it. */
export interface ExecutorHost {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly metrics: MetricsRecorder;
  readonly stuckGraceMs: number;
  readonly maxPayloadBytes: number;
  settle(settlement: Settlement): Promise<SettleResult>;
  appendLog(line: NewLogLine): void;
  /** Writes the lines appended so far; undefined when none is waiting. */
  flushLogs(): Promise<void> | undefined;
  emit<E extends QueueEventName>(event: E, payload: QueueEvents[E]): void;
  reportSettled(result: SettleResult, outcome: Outcome, attempt: number, runTimeMs: number): Promise<void>;
  reportError(error: unknown, context: string): void;
}

/** What the loop that runs attempts learns of each (told directly: no promise per attempt to wait on). */
export interface AttemptObserver {
  /** The handler returned (or never ran): its slot and resources are free, though the outcome may not be stored yet. */
  attemptReturned(executor: Executor): void;
  /** The outcome was stored or given up on, and the handler has returned: the attempt is over. */
  attemptFinished(executor: Executor): void;
}

/**
 * One attempt of one job: validates the payload, runs the handler with its context, enforces the
 * timeout and settles the outcome exactly once. It is over (`attemptFinished`) only when the handler
 * has really returned, so the worker keeps the attempt's resources reserved until then.
 */
export class Executor implements AttemptServices {
  readonly jobId: JobId;
  readonly lease: Lease;
  /** Made when the handler first reads `ctx.signal` (most never do); `abortReason` is its reason once aborted. */
  private controller: AbortController | undefined;
  private abortReason: Error | undefined;
  private abortCause: AbortCause | undefined;
  /** Set once an outcome was decided (or the lease lost); later outcomes are discarded. */
  private settled = false;
  /**
   * Whether heartbeats should keep the lease: until the outcome is stored (its log lines are written
   * first, and a settle may be tried again), not once the lease was lost. A store's heartbeat must
   * then not wait for the settle of that job (PostgreSQL's skips rows another transaction holds).
   */
  private holdsLease = true;
  private handlerReturned = false;
  private startedAt: number;
  /** Whether the handler was started (a prefetched attempt waits for a slot first). */
  private started = false;
  private readonly timers: TimerHandle[] = [];
  private transaction: AttemptTransaction | undefined;
  /** A copy of the claimed job taken before anyone could change it (see `Settlement.job`). */
  private asClaimed: JobRecord | undefined;
  private settling = NOTHING_PENDING;
  /**
   * Until when (this process's clock) the lease is known to hold: the time a claim or a heartbeat
   * that answered "alive" was sent, plus the lease. A waiting attempt past it does not start.
   */
  private leaseHeldUntil = Number.NEGATIVE_INFINITY;

  /** A claimed attempt holds its lease and waits until `start` (a prefetched one waits for a slot). */
  constructor(
    readonly claimed: ClaimedJob,
    private readonly handler: RegisteredHandler,
    private readonly host: ExecutorHost,
    private readonly observer: AttemptObserver,
  ) {
    this.jobId = claimed.job.id;
    this.lease = claimed.lease;
    this.startedAt = host.clock.now();
  }

  /** Runs the attempt (an attempt aborted while it waited only waits for its outcome to be stored). */
  async start(): Promise<void> {
    try {
      await this.run();
    } catch (error) {
      // `run` settles every outcome itself; a throw escaping it anyway must not end the process.
      this.host.reportError(error, `attempt of job ${this.jobId}`);
    } finally {
      this.observer.attemptFinished(this);
    }
  }

  /**
   * Whether heartbeats renew the attempt's lease: also while a decided outcome is being stored, so a
   * slow log write or settle does not let the lease expire and the job run again.
   */
  get live(): boolean {
    return this.holdsLease;
  }

  /** Settles once the attempt's outcome is stored or given up on (its log lines are written first). */
  get outcomeStored(): Promise<void> {
    return this.settling;
  }

  /** The lease was granted or renewed for a lease from `sentAt`, when the claim or heartbeat was sent. */
  leaseConfirmed(sentAt: number, leaseMs: number): void {
    this.leaseHeldUntil = Math.max(this.leaseHeldUntil, sentAt + leaseMs);
  }

  /**
   * Whether the lease may have expired by `now`: not renewed for a whole lease (heartbeats failed).
   * The job may then have been rescued and run elsewhere already.
   */
  leaseMayHaveExpired(now: number): boolean {
    return now >= this.leaseHeldUntil;
  }

  /** Aborts the handler's signal; timeout, cancel and shutdown also settle at once. */
  abort(cause: AbortCause): void {
    if (this.abortCause !== undefined || this.handlerReturned) return;
    this.abortCause = cause;
    this.abortReason = this.reasonFor(cause);
    this.controller?.abort(this.abortReason);
    switch (cause) {
      case "lease-lost":
        this.settled = true;
        this.holdsLease = false;
        this.transaction?.seal();
        break;
      case "timeout":
        this.settleOnce(failureOutcome(this.claimed.job, this.lease.attempt, this.reasonFor(cause), this.host.clock.now()));
        break;
      case "cancel":
        this.settleOnce({ type: "cancelled", error: CANCELLED });
        break;
      case "shutdown":
      case "lease-unconfirmed":
        // Released unburnt: a CAS on the lease, lost if the lease did expire and the job was rescued.
        this.settleOnce({ type: "interrupted" });
        break;
    }
    // An attempt aborted before it started has no handler to watch.
    if (cause !== "lease-lost" && this.started) this.watchForStuck();
  }

  /** Cancels the attempt's timers (timeout, stuck report): its worker has stopped and watches it no more. */
  cancelTimers(): void {
    for (const timer of this.timers) timer.cancel();
  }

  private async run(): Promise<void> {
    const { job } = this.claimed;
    const { host } = this;
    if (this.abortCause !== undefined) {
      // Aborted while it waited for a slot: the abort settled it, and no handler ever ran.
      this.handlerReturned = true;
      this.observer.attemptReturned(this);
      await this.settling;
      return;
    }
    this.started = true;
    // The job as stored, for the settle to build on: the handler and listeners get `job` itself.
    this.asClaimed = copyJobRecord(job);
    this.startedAt = host.clock.now();
    host.metrics.recordStart(job.type, this.startedAt - Math.max(job.runAt.getTime(), job.createdAt.getTime()));
    host.emit("job:started", { job, attempt: this.lease.attempt });
    let outcome: Outcome;
    try {
      // Most handlers have no schema and most jobs no dependencies: no promise to wait for then.
      const payload = this.handler.payload === undefined ? job.payload : await this.parsePayload();
      const dependencies = job.dependsOn.length === 0 ? {} : await this.loadDependencies();
      // Aborted while the payload was validated or the dependencies read (a cancel, a shutdown that
      // released the job to another worker, a lost lease): its outcome is decided, no handler runs.
      if (this.abortReason !== undefined) throw this.abortReason;
      if (job.timeoutMs !== undefined) {
        this.timers.push(host.clock.setTimer(() => this.abort("timeout"), job.timeoutMs));
      }
      const result = await this.handler.run(payload, attemptContext(job, this.lease.attempt, dependencies, this));
      outcome = { type: "completed", result: toJsonValue(result, "result", host.maxPayloadBytes) };
    } catch (error) {
      outcome = failureOutcome(job, this.lease.attempt, error, host.clock.now());
    } finally {
      this.handlerReturned = true;
      // ctx.tx kept by the handler (a timer, a promise it did not await) must not open a transaction nobody ends.
      this.transaction?.seal();
      for (const timer of this.timers) timer.cancel();
    }
    this.settleOnce(outcome);
    // Its outcome queued first, the attempt gives up its slot: the next attempt may start at once.
    this.observer.attemptReturned(this);
    await this.settling;
  }

  /** The handler gets the schema's output, validated again at every run (the stored payload is its input). */
  private async parsePayload(): Promise<unknown> {
    const schema = this.handler.payload;
    if (schema === undefined) return this.claimed.job.payload;
    return validatePayload(schema, this.claimed.job.payload, this.handler.type, "payload");
  }

  private async loadDependencies(): Promise<Record<JobId, Json | undefined>> {
    const ids = this.claimed.job.dependsOn;
    if (ids.length === 0) return {};
    const parents = await this.host.storage.getJobs(ids);
    return Object.fromEntries(parents.map((p) => [p.id, p.result]));
  }

  /** A line of the handler's (`ctx.log`), with its data as stored JSON; data that cannot be is replaced by why. */
  log(level: LogLevel, message: string, data?: unknown): void {
    const { host, lease } = this;
    const safeLevel = LOG_LEVELS.includes(level) ? level : "info";
    let json: Json | undefined;
    try {
      json = data === undefined ? undefined : toJsonValue(data, "data", Math.min(host.maxPayloadBytes, MAX_STORED_TEXT_BYTES));
    } catch (error) {
      json = { unserializable: toStoredText(toErrorInfo(error).message) };
    }
    const line = { jobId: lease.jobId, attempt: lease.attempt, at: new Date(host.clock.now()), level: safeLevel, message: String(message) };
    host.appendLog(json === undefined ? line : { ...line, data: json });
  }

  /** `ctx.tx`: the attempt's transaction handle, if the store has one (see `attemptTransaction`). */
  transactionHandle(): unknown {
    return this.attemptTransaction()?.handle;
  }

  /**
   * The attempt's transaction (`ctx.tx`), opened on the store when the handler first reads it: most
   * never do. Read after the handler returned, or after the attempt's outcome was decided (a
   * timeout, a cancel), it is sealed at once and refuses statements.
   */
  private attemptTransaction(): AttemptTransaction | undefined {
    if (this.transaction === undefined) {
      this.transaction = this.host.storage.openAttemptTransaction?.(this.lease);
      if (this.handlerReturned || this.settled) this.transaction?.seal();
    }
    return this.transaction;
  }

  /** `ctx.signal`: the attempt's signal, made on first read, aborted already if the attempt was. */
  signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Stores `outcome` unless an earlier one was (the attempt's logs first: `storeOutcome`). */
  private settleOnce(outcome: Outcome): void {
    if (this.settled) {
      if (this.handlerReturned) this.settling = this.settling.then(() => this.rollback());
      return;
    }
    this.settled = true;
    // Decided while the handler runs (a timeout, a cancel, a shutdown): its ctx.tx takes no more
    // statements, so none opens a transaction (or takes a lock) that the settle would wait for.
    this.transaction?.seal();
    const runTimeMs = this.host.clock.now() - this.startedAt;
    // Queued at once (nothing is stored before an attempt's first outcome), before the slot is freed.
    this.settling = this.storeOutcome(outcome, runTimeMs);
  }

  private async storeOutcome(outcome: Outcome, runTimeMs: number): Promise<void> {
    try {
      // Most attempts log nothing: no turn to wait then.
      const flushing = this.host.flushLogs();
      if (flushing !== undefined) await flushing;
    } catch (error) {
      this.host.reportError(error, "log write");
    }
    const rolledBack = this.rollBackUnlessCommitted(outcome);
    try {
      const { result, stored } = await this.store(outcome);
      this.holdsLease = false;
      await this.host.reportSettled(result, stored, this.lease.attempt, runTimeMs);
    } catch (error) {
      // The lease will expire and the rescuer will settle the attempt: at-least-once holds.
      this.holdsLease = false;
      this.host.reportError(error, `settle job ${this.jobId}`);
    } finally {
      // The attempt is over (for shutdown) once its transaction is; its outcome and events are not held up.
      await rolledBack;
    }
  }

  /**
   * Starts rolling back the handler's writes for any outcome but a completion its handler returned,
   * also one decided while the handler still runs (a timeout, a cancel, a shutdown), beside the
   * settle rather than before it: a statement of the handler's still running holds up the rollback
   * and must not hold up the outcome, and the transaction may hold the job's own row (an insert
   * naming the job), which the settle then waits for only until the rollback frees it. The promise
   * never rejects.
   */
  private rollBackUnlessCommitted(outcome: Outcome): Promise<void> | undefined {
    const tx = this.transaction;
    if (tx?.opened !== true || (outcome.type === "completed" && this.handlerReturned)) return undefined;
    return tx.rollback();
  }

  /** Stores `outcome`, answering the outcome actually stored (a failed commit fails the attempt instead). */
  private async store(outcome: Outcome): Promise<Stored> {
    const tx = this.transaction;
    if (tx?.opened === true && outcome.type === "completed" && this.handlerReturned) {
      try {
        return { result: await tx.commit(outcome, new Date(this.host.clock.now()), this.asClaimed ?? this.claimed.job), stored: outcome };
      } catch (error) {
        // The commit failed (a deferred constraint, a serialization failure, the connection): the
        // handler's writes went with it, so the attempt failed with that error, stored now rather
        // than a lease later by the rescuer. A CAS on the lease: lost if the commit did land after all.
        this.host.reportError(error, `commit of the attempt of job ${this.jobId}`);
        const failed = await this.settleWithRetries(failureOutcome(this.claimed.job, this.lease.attempt, error, this.host.clock.now()));
        // A commit whose answer was lost may have landed: the history then shows the completion.
        return (failed.result.type === "lost" ? await this.storedEarlier(outcome) : undefined) ?? failed;
      }
    }
    return this.settleWithRetries(outcome);
  }

  /** Settles `outcome`, trying again after a storage error a few times; answers the outcome stored. */
  private async settleWithRetries(outcome: Outcome): Promise<Stored> {
    const settlement: Settlement = { lease: this.lease, outcome, job: this.asClaimed ?? this.claimed.job };
    for (let tries = 0; ; tries++) {
      try {
        const result = await this.host.settle(settlement);
        // A try that failed unanswered may have committed: the next then finds the lease gone.
        if (result.type === "lost" && tries > 0) return (await this.storedEarlier(outcome)) ?? { result, stored: outcome };
        return { result, stored: result.type === "settled" ? appliedOutcome(outcome, result.job, false) : outcome };
      } catch (error) {
        // The settle is a CAS on the lease, so trying again after an outage cannot apply it twice.
        const delayMs = SETTLE_RETRY_DELAYS_MS[tries];
        if (!(error instanceof StorageError) || delayMs === undefined) throw error;
        this.host.reportError(error, `settle job ${this.jobId}, trying again in ${delayMs} ms`);
        await new Promise<void>((resolve) => this.host.clock.setTimer(resolve, delayMs));
      }
    }
  }

  /**
   * The settle of `outcome` that an earlier try committed without its answer reaching us, read back
   * from the job's history, with the outcome it stored (a retry or release may have been stored as
   * the job's cancel); undefined when the history shows none (the lease was lost, or rescued). The
   * dependents it unblocked or cancelled are not known here: their events are not announced.
   */
  private async storedEarlier(outcome: Outcome): Promise<Stored | undefined> {
    const job = await this.host.storage.getJob(this.jobId).catch(() => undefined);
    if (job === undefined) return undefined;
    const startedAt = this.claimed.job.startedAt;
    const stored = [outcome, outcomeUnderCancelRequest(outcome, false)].find((candidate) => endedWith(job, this.lease.attempt, startedAt, candidate));
    return stored === undefined ? undefined : { result: { type: "settled", job, unblocked: [], cancelled: [] }, stored };
  }

  private async rollback(): Promise<void> {
    if (this.transaction?.opened === true) await this.transaction.rollback().catch((e: unknown) => this.host.reportError(e, "rollback"));
  }

  private watchForStuck(): void {
    const grace = this.host.stuckGraceMs;
    this.timers.push(
      this.host.clock.setTimer(() => {
        if (this.handlerReturned) return;
        this.host.metrics.recordStuck(this.claimed.job.type);
        this.host.emit("job:stuck", { job: this.claimed.job, attempt: this.lease.attempt, runningForMs: this.host.clock.now() - this.startedAt });
      }, grace),
    );
  }

  private reasonFor(cause: AbortCause): Error {
    switch (cause) {
      case "timeout":
        return new JobTimeoutError(this.claimed.job.timeoutMs ?? 0);
      case "cancel":
        return Object.assign(new Error(CANCELLED.message), { name: CANCELLED.name, code: CANCELLED.code });
      case "shutdown":
        return new QueueClosedError("the worker is shutting down");
      case "lease-lost":
      case "lease-unconfirmed":
        return new LeaseLostError(this.jobId);
    }
  }
}
