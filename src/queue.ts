import { EventEmitter } from "eventemitter3";
import { z } from "zod";
import type { TimerHandle } from "./clock.js";
import { isJobId } from "./dag.js";
import { JobNotFoundError, QueueClosedError, UnknownJobTypeError, ValidationError, WaitTimeoutError } from "./errors.js";
import type { QueueEventName, QueueEvents, QueueListener } from "./events.js";
import type { HandlerDefinition, HandlerRef, RegisteredHandler } from "./handler.js";
import { MetricsRecorder, type QueueMetrics } from "./metrics.js";
import type { MetricsTotals } from "./metrics-totals.js";
import {
  enqueueManyOptionsSchema,
  enqueueOptionsSchema,
  graphNodeSchema,
  handlerOptionsSchema,
  jobTypeSchema,
  oneOrMany,
  parseOrThrow,
  typeFilterSchema,
  resolveQueueOptions,
  type EnqueueManyOptions,
  type EnqueueOptions,
  type GraphNodeInput,
  type QueueOptions,
  type ResolvedQueueOptions,
} from "./options.js";
import { readJobGraph, type JobGraph } from "./job-graph.js";
import { copyJobRecord } from "./job-record-copy.js";
import { redrive, retryManySchema, type RetryManyFilter } from "./redrive.js";
import { Worker } from "./scheduler/worker.js";
import { withTimeout } from "./timeout.js";
import { MemoryStorage } from "./storage/memory.js";
import type { InsertedJob, SqlTransaction, Storage, Unsubscribe } from "./storage/storage.js";
import { buildSubmission, type JobRequest } from "./submission.js";
import { putSchedule } from "./schedule/put-schedule.js";
import { planSchedule, scheduleNameSchema, toScheduleRecord, type ScheduleInput } from "./schedule/schedule-input.js";
import { JOB_STATUSES, TERMINAL_STATUSES, type Json, type JobChange, type JobId, type JobRecord, type LogEntry, type ScheduleRecord } from "./types.js";

/**
 * Default byte bound of one `listJobs` page (payload, result and error JSON of its jobs): a page of
 * big jobs ends early, so a reader holds a few MiB, not `limit` times the largest payload.
 */
export const DEFAULT_LIST_PAGE_BYTES = 4 * 1_048_576;

const listQuerySchema = z
  .object({
    status: oneOrMany(z.enum(JOB_STATUSES), JOB_STATUSES.length).optional(),
    type: typeFilterSchema.optional(),
    limit: z.number().int().min(1).max(1_000).default(100),
    cursor: z.string().min(1).max(200).optional(),
    maxBytes: z.number().int().min(1).max(1_073_741_824).default(DEFAULT_LIST_PAGE_BYTES),
  })
  .strict();
export type ListJobsQuery = z.input<typeof listQuerySchema>;

/** One page of `listJobs`. */
export interface JobPage {
  readonly jobs: readonly JobRecord[];
  readonly nextCursor: string | undefined;
}

const startOptionsSchema = z.object({ migrate: z.boolean().default(true) }).strict();

const waitOptionsSchema = z.object({ timeoutMs: z.number().int().positive().max(2_147_483_647).optional() }).strict();

/** A listener of some event, as the `once` bookkeeping keeps it. */
type AnyListener = QueueListener<QueueEventName>;

interface Waiter {
  readonly resolve: (job: JobRecord) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A job queue: register handlers, enqueue jobs and graphs of jobs, and (after `start`) run them
 * in this process. Producers and workers may be different processes sharing one store.
 */
export class Queue {
  /** The store this queue writes to. */
  readonly storage: Storage;
  /** Whether the queue made its store (and so closes it on shutdown); a store the caller passed stays the caller's. */
  private readonly ownsStorage: boolean;
  private readonly options: ResolvedQueueOptions;
  private readonly handlers = new Map<string, RegisteredHandler>();
  private readonly emitter = new EventEmitter();
  /** `once` listeners and the wrappers that remove them after their first call. */
  private readonly onceWrappers = new WeakMap<object, Map<QueueEventName, AnyListener>>();
  private readonly metricsRecorder: MetricsRecorder;
  private readonly worker: Worker;
  private readonly waiters = new Map<JobId, Set<Waiter>>();
  private unsubscribe: Unsubscribe | undefined;
  private state: "idle" | "starting" | "running" | "closing" | "closed" = "idle";
  private closing: Promise<void> | undefined;

  constructor(options: QueueOptions = {}) {
    const resolved = resolveQueueOptions(options);
    this.options = resolved.options;
    this.storage = resolved.storage ?? new MemoryStorage();
    this.ownsStorage = resolved.storage === undefined;
    this.metricsRecorder = new MetricsRecorder(this.options.clock);
    this.worker = new Worker({
      storage: this.storage,
      options: this.options,
      handlers: this.handlers,
      metrics: this.metricsRecorder,
      emit: (event, payload) => this.emit(event, payload),
    });
  }

  /**
   * Registers the handler for `type`; jobs of that type run in this process once it is started. The
   * reference it answers types `enqueue` with the schema's input; `run` gets the schema's output.
   */
  defineHandler<P = Json, R = unknown, I = P>(type: string, definition: HandlerDefinition<P, R, I>): HandlerRef<I, R> {
    const name = parseOrThrow(jobTypeSchema, type, "job type");
    if (this.handlers.has(name)) throw new ValidationError(`a handler for ${JSON.stringify(name)} is already defined`, [{ path: "type", message: "already defined" }]);
    const parsed = parseOrThrow(handlerOptionsSchema, definition, `handler ${name}`);
    this.handlers.set(name, {
      type: name,
      payload: parsed.payload,
      priority: parsed.priority,
      maxAttempts: parsed.retry.maxAttempts,
      backoff: parsed.retry.backoff,
      timeoutMs: parsed.timeoutMs,
      resources: parsed.resources,
      deduplicate: parsed.deduplicate,
      run: parsed.run as RegisteredHandler["run"],
    });
    this.worker.wake();
    return { type: name };
  }

  /** Enqueues one job; atomic: on any error nothing is stored. */
  enqueue<P, R>(handler: HandlerRef<P, R>, payload: P, options?: EnqueueOptions): Promise<JobRecord>;
  enqueue(type: string, payload?: unknown, options?: EnqueueOptions): Promise<JobRecord>;
  async enqueue(handlerOrType: HandlerRef | string, payload?: unknown, options: EnqueueOptions = {}): Promise<JobRecord> {
    this.assertOpen();
    const type = this.typeOf(handlerOrType);
    const parsed = parseOrThrow(enqueueOptionsSchema, options, "enqueue options");
    const { onDuplicate, tx, dependsOn, ...rest } = parsed;
    const request: JobRequest = { ...rest, key: "job", type, payload, dependsOn: dependsOn ?? [] };
    const [job] = await this.submit([request], onDuplicate, tx);
    return job as JobRecord;
  }

  /**
   * Enqueues a graph of jobs in one atomic submission. `dependsOn` names keys of the same call or
   * ids of existing jobs. Answers the jobs in input order.
   */
  async enqueueMany(nodes: readonly GraphNodeInput[], options: EnqueueManyOptions = {}): Promise<JobRecord[]> {
    this.assertOpen();
    const list = parseOrThrow(z.array(graphNodeSchema).min(1).max(this.options.maxGraphNodes), nodes, "graph");
    const { onDuplicate, tx } = parseOrThrow(enqueueManyOptionsSchema, options, "enqueueMany options");
    // A batch names a few types many times: each is checked once.
    const types = new Set<string>();
    const requests = list.map((node): JobRequest => {
      if (!types.has(node.type)) types.add(parseOrThrow(jobTypeSchema, node.type, "job type"));
      return { ...node, payload: node.payload, dependsOn: node.dependsOn ?? [] };
    });
    return this.submit(requests, onDuplicate, tx);
  }

  private async submit(requests: readonly JobRequest[], onDuplicate: "reject" | "return-existing", tx: SqlTransaction | undefined): Promise<JobRecord[]> {
    const { jobs, positions } = await buildSubmission(requests, this.worker.submissionContext());
    const now = new Date(this.options.clock.now());
    const result = await this.storage.insertJobs(tx === undefined ? { jobs, onDuplicate, now } : { jobs, onDuplicate, now, tx });
    // Listeners get a copy: what one of them changes is not what the caller (or the worker) reads.
    if (this.emitter.listenerCount("job:enqueued") > 0) {
      for (const inserted of result.jobs) if (inserted.type === "inserted") this.emit("job:enqueued", { job: copyJobRecord(inserted.job) });
    }
    this.worker.afterInsert(result.jobs.map((j) => j.job));
    return positions.map((p) => (result.jobs[p] as InsertedJob).job);
  }

  /** Cancels a job: blocked/pending at once (with its dependents), running through its signal. */
  async cancel(id: JobId): Promise<JobRecord> {
    this.assertOpen();
    return this.worker.cancel(this.parseId(id));
  }

  /** Runs a failed or cancelled job again, with a fresh attempt budget. */
  async retry(id: JobId): Promise<JobRecord> {
    this.assertOpen();
    return this.worker.retry(this.parseId(id));
  }

  /**
   * Redrive: retries failed (by default) or cancelled jobs matching the filter in bulk, oldest first,
   * each under the rules of `retry`; a job that cannot be retried (a dependency still failed or
   * cancelled, its key held by a live job) is skipped. At most `limit` (default 1,000, at most
   * 10,000); answers how many were retried (dependents revived with them are not counted).
   */
  async retryMany(filter: RetryManyFilter = {}): Promise<number> {
    this.assertOpen();
    const parsed = parseOrThrow(retryManySchema, filter, "retryMany filter");
    const { clock } = this.options;
    try {
      return await redrive(this.storage, parsed, () => new Date(clock.now()));
    } finally {
      this.worker.wake();
    }
  }

  /**
   * The job's connected graph: the job, its ancestors and its descendants, transitively, with the
   * edges between them as `[dependent, dependency]`; at most 1,000 jobs and 4 MiB of their payload,
   * result and error JSON, the nearest kept on both sides, `truncated` when more.
   */
  async getJobGraph(id: JobId): Promise<JobGraph> {
    return readJobGraph(this.storage, this.parseId(id));
  }

  async getJob(id: JobId): Promise<JobRecord | undefined> {
    return this.storage.getJob(this.parseId(id));
  }

  /**
   * Jobs newest first, filtered by status and type, a page at a time: at most `limit` jobs (default
   * 100) and, past the first job, at most `maxBytes` of payload, result and error JSON (default 4 MiB).
   * A page that ends early still gives `nextCursor`.
   */
  async listJobs(query: ListJobsQuery = {}): Promise<JobPage> {
    const parsed = parseOrThrow(listQuerySchema, query, "list query");
    return this.storage.listJobs({
      limit: parsed.limit,
      maxBytes: parsed.maxBytes,
      ...(parsed.status === undefined ? {} : { status: parsed.status }),
      ...(parsed.type === undefined ? {} : { type: parsed.type }),
      ...(parsed.cursor === undefined ? {} : { cursor: parsed.cursor }),
    });
  }

  /** The job's history: status changes and handler log lines, each with its attempt, in order. */
  async getJobLogs(id: JobId): Promise<readonly LogEntry[]> {
    const jobId = this.parseId(id);
    const logs = await this.storage.listLogs(jobId);
    if (logs.length === 0 && (await this.storage.getJob(jobId)) === undefined) throw new JobNotFoundError(jobId);
    return logs;
  }

  /** Resolves with the job once it is completed, failed or cancelled, whichever process ran it. */
  async waitFor(id: JobId, options: { timeoutMs?: number } = {}): Promise<JobRecord> {
    const jobId = this.parseId(id);
    const { timeoutMs } = parseOrThrow(waitOptionsSchema, options, "waitFor options");
    this.subscribeOnce();
    const { clock, pollIntervalMs } = this.options;
    const timers: TimerHandle[] = [];
    let waiter: Waiter | undefined;
    const settled = new Promise<JobRecord>((resolve, reject) => {
      waiter = { resolve, reject };
      const set = this.waiters.get(jobId) ?? new Set<Waiter>();
      set.add(waiter);
      this.waiters.set(jobId, set);
    });
    // The first check may reject this before anyone awaits it: that must not count as an unhandled
    // rejection (which ends the process). It is awaited below.
    settled.catch(() => undefined);
    const check = async () => {
      const job = await this.storage.getJob(jobId);
      if (job === undefined) waiter?.reject(new JobNotFoundError(jobId));
      else if (TERMINAL_STATUSES.includes(job.status)) waiter?.resolve(job);
    };
    let finished = false;
    const poll = () => {
      // A check in flight when the wait ends must not start another timer.
      if (!finished) timers.push(clock.setTimer(() => void check().catch(() => undefined).finally(poll), pollIntervalMs));
    };
    // Not awaited: a store that never answers (a half-open connection) must not outlast the timeout.
    // Polling starts once the first read answered, so an unanswered store does not pile reads up.
    check().then(poll, (error: unknown) => waiter?.reject(error));
    try {
      return await withTimeout(clock, settled, timeoutMs, () => new WaitTimeoutError(jobId, timeoutMs ?? 0));
    } finally {
      finished = true;
      timers.forEach((t) => t.cancel());
      const set = this.waiters.get(jobId);
      set?.delete(waiter as Waiter);
      if (set?.size === 0) this.waiters.delete(jobId);
    }
  }

  /**
   * Stores a cron schedule under `name` (replacing one of that name, its next run planned afresh,
   * after its last run);
   * every started queue on the store enqueues its ticks, each exactly once. The type need not have
   * a handler here; when it has, the payload is checked against its schema now.
   */
  async schedule(name: string, input: ScheduleInput): Promise<ScheduleRecord> {
    this.assertOpen();
    const now = new Date(this.options.clock.now());
    const planned = planSchedule(name, input, now);
    // Built once as a tick's job would be, so a payload the handler refuses fails here, not at every tick.
    const job = await this.worker.buildScheduledJob(planned, planned.nextRunAt);
    const stored = await putSchedule(this.storage, { ...planned, payload: job.payload }, now);
    this.worker.wakeTicker();
    return toScheduleRecord(stored);
  }

  /** Deletes a schedule; answers whether one of that name existed. Jobs it already enqueued stay. */
  async unschedule(name: string): Promise<boolean> {
    this.assertOpen();
    return this.storage.deleteSchedule(parseOrThrow(scheduleNameSchema, name, "schedule name"));
  }

  /** Every stored schedule, by name, with its next and last run. */
  async listSchedules(): Promise<ScheduleRecord[]> {
    return (await this.storage.listSchedules()).map(toScheduleRecord);
  }

  /** Counts, wait and run times, failure rate, throughput, resources (see QueueMetrics). */
  async metrics(): Promise<QueueMetrics> {
    const jobs = await this.storage.countJobs();
    return this.worker.snapshot(jobs);
  }

  /**
   * Counts (completed, failed, retried, stuck) and wait and run time histograms since this queue was
   * made, by job type, for this process: what Prometheus counters and histograms are made of.
   */
  metricsSinceStart(): MetricsTotals {
    return this.metricsRecorder.sinceStart(this.handlers.keys());
  }

  /** Creates or upgrades the store's schema. `enqueue` never migrates by itself. */
  async migrate(): Promise<void> {
    this.assertOpen();
    await this.storage.setup();
  }

  /** Migrates (unless `migrate: false`), then starts claiming and running jobs in this process. */
  async start(options: { migrate?: boolean } = {}): Promise<void> {
    this.assertOpen();
    const { migrate } = parseOrThrow(startOptionsSchema, options, "start options");
    if (this.state !== "idle") return;
    this.state = "starting";
    try {
      if (migrate) await this.storage.setup();
    } catch (error) {
      this.state = "idle";
      throw error;
    }
    if (this.state !== "starting") return; // shut down while migrating
    this.subscribeOnce();
    this.worker.start();
    this.state = "running";
  }

  /**
   * Stops claiming at once; running attempts get `shutdownGraceMs` to finish, the rest are aborted
   * and released to pending without burning an attempt. Resolves when nothing of the queue runs.
   * Closes the store only if the queue made it (no `storage` option): a store passed in stays open,
   * for other queues on it and for reads, and its owner closes it. Safe to call more than once.
   */
  shutdown(): Promise<void> {
    this.closing ??= this.close();
    return this.closing;
  }

  private async close(): Promise<void> {
    this.state = "closing";
    await this.worker.stop();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const set of this.waiters.values()) for (const w of set) w.reject(new QueueClosedError());
    this.waiters.clear();
    if (this.ownsStorage) await this.storage.close();
    this.state = "closed";
    this.emit("queue:closed", {});
  }

  /** Whether this process is claiming and running jobs (between `start` and `shutdown`). */
  get isRunning(): boolean {
    return this.state === "running";
  }

  /** Subscribes to a typed event. */
  on<E extends QueueEventName>(event: E, listener: QueueListener<E>): this {
    this.emitter.on(event, listener);
    return this;
  }

  /** Subscribes for the next emission only. Wrapped, because `emit` calls listeners itself. */
  once<E extends QueueEventName>(event: E, listener: QueueListener<E>): this {
    const wrapper: QueueListener<E> = (payload) => {
      this.off(event, listener);
      listener(payload);
    };
    const byEvent = this.onceWrappers.get(listener) ?? new Map<QueueEventName, AnyListener>();
    byEvent.set(event, wrapper as AnyListener);
    this.onceWrappers.set(listener, byEvent);
    this.emitter.on(event, wrapper);
    return this;
  }

  off<E extends QueueEventName>(event: E, listener: QueueListener<E>): this {
    this.emitter.off(event, listener);
    const byEvent = this.onceWrappers.get(listener);
    const wrapper = byEvent?.get(event);
    if (wrapper !== undefined) {
      this.emitter.off(event, wrapper);
      byEvent?.delete(event);
    }
    return this;
  }

  /** Calls each listener on its own, so one that throws breaks neither the others nor the queue. */
  private emit<E extends QueueEventName>(event: E, payload: QueueEvents[E]): void {
    if (event !== "queue:error" && this.emitter.listenerCount(event) === 0) return;
    const listeners = this.emitter.listeners(event);
    if (event === "queue:error" && listeners.length === 0) {
      this.logUnhandled(payload as QueueEvents["queue:error"]);
      return;
    }
    for (const listener of listeners) {
      try {
        (listener as QueueListener<E>)(payload);
      } catch (error) {
        if (event !== "queue:error") this.emit("queue:error", { error, context: `listener of ${event}` });
      }
    }
  }

  /** A `queue:error` nobody listens to goes to the logger, so no failure is silent by default. */
  private logUnhandled({ error, context }: QueueEvents["queue:error"]): void {
    try {
      this.options.logger?.error({ err: error, context }, `jobgraph: ${context} failed (no queue:error listener)`);
    } catch {
      // A logger that throws must not break the queue either.
    }
  }

  private subscribeOnce(): void {
    this.unsubscribe ??= this.storage.subscribe({
      onChange: (changes) => this.onChanges(changes),
      onReset: () => {
        this.worker.wake();
        for (const id of this.waiters.keys()) void this.recheck(id);
      },
    });
  }

  private onChanges(changes: readonly JobChange[]): void {
    this.worker.onChanges(changes);
    for (const change of changes) {
      if (TERMINAL_STATUSES.includes(change.status) && this.waiters.has(change.id)) void this.recheck(change.id);
    }
  }

  private async recheck(id: JobId): Promise<void> {
    const job = await this.storage.getJob(id).catch(() => undefined);
    if (job === undefined || !TERMINAL_STATUSES.includes(job.status)) return;
    for (const waiter of this.waiters.get(id) ?? []) waiter.resolve(job);
  }

  private typeOf(handlerOrType: HandlerRef | string): string {
    if (typeof handlerOrType === "string") return parseOrThrow(jobTypeSchema, handlerOrType, "job type");
    if (typeof handlerOrType !== "object" || handlerOrType === null || typeof handlerOrType.type !== "string") {
      throw new ValidationError("enqueue takes a handler reference or a job type name", [{ path: "type", message: "expected a handler or a type name" }]);
    }
    if (!this.handlers.has(handlerOrType.type)) throw new UnknownJobTypeError(handlerOrType.type);
    return handlerOrType.type;
  }

  private parseId(id: unknown): JobId {
    if (typeof id !== "string" || !isJobId(id)) throw new ValidationError("a job id is a UUID", [{ path: "id", message: "must be a UUID" }]);
    return id.toLowerCase();
  }

  private assertOpen(): void {
    if (this.state === "closing" || this.state === "closed") throw new QueueClosedError();
  }
}

