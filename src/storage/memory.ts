import { randomUUID } from "node:crypto";
import { assertNever } from "../assert-never.js";
import { outcomeUnderCancelRequest } from "../cancel-request.js";
import { planCascade, type CascadeVictim } from "../cascade.js";
import { attemptClosed, attemptOpened, deriveJobLogs, type HandlerLine } from "../job-history.js";
import { planRestart } from "../restart.js";
import { planRevival } from "../revival.js";
import { jobBytes } from "../job-bytes.js";
import { decodePageCursor, encodePageCursor } from "../page-cursor.js";
import { DuplicateJobError, JobNotFoundError, QueueClosedError, ValidationError } from "../errors.js";
import { admitJobs, type AdmissionCandidate } from "../resources.js";
import { JOB_STATUSES, LIVE_STATUSES, PRIORITIES, TERMINAL_STATUSES } from "../types.js";
import type { ErrorInfo, Json, JobChange, JobId, JobRecord, JobStatus, LogEntry, NewLogLine, Priority } from "../types.js";
import { DependencyGraph } from "./memory-graph.js";
import { ScheduleTable } from "./memory-schedules.js";
import { changeOf, dependencyError, leaseOf, toRecord, update, type StoredJob } from "./memory-record.js";
import { toJson } from "./to-json.js";
import { planInsert } from "../insert-plan.js";
import type {
  CancelResult, ChangeListener, ClaimRequest, ClaimResult, ClaimedJob, DeleteFinishedRequest, ExpiredLease, FinishedJobIds, FinishedJobsQuery,
  FireScheduleRequest, FireScheduleResult, GraphDirection, HeartbeatResult, InsertRequest, InsertResult, JobCounts, Lease, ListPage, ListQuery,
  NewSchedule, RetryResult, SettleResult, Settlement, Storage, StoredSchedule, Unsubscribe,
} from "./storage.js";

interface PlannedInsert {
  readonly type: "inserted" | "existing";
  readonly job: StoredJob;
}

const LIVE: ReadonlySet<JobStatus> = new Set(LIVE_STATUSES);

/** The embedded store: everything in process memory, no server; judges time only by the `now` it is given. */
export class MemoryStorage implements Storage {
  private readonly jobs = new Map<JobId, StoredJob>();
  /** Jobs by insertion order: `bySeq[job.seq] === job`, or undefined once retention deleted it. */
  private readonly bySeq: (StoredJob | undefined)[] = [];
  private readonly pending = new Set<JobId>();
  private readonly running = new Set<JobId>();
  /** Idempotency key -> the live job holding it. */
  private readonly liveKeys = new Map<string, JobId>();
  private readonly byStatus = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
  private readonly graph = new DependencyGraph();
  /** Handler lines by job, in the order they were stored. */
  private readonly logs = new Map<JobId, HandlerLine[]>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly schedules = new ScheduleTable();
  private changes: JobChange[] = [];
  private closed = false;

  async setup(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }

  async insertJobs(request: InsertRequest): Promise<InsertResult> {
    if (request.tx !== undefined) {
      // Ignoring it would commit the jobs whatever became of the caller's transaction.
      throw new ValidationError("tx: MemoryStorage has no transactions to join; enqueue with tx needs PostgresStorage", [
        { path: "tx", message: "not supported by MemoryStorage" },
      ]);
    }
    return this.mutate(() => this.insertNow(request));
  }

  async putSchedule(schedule: NewSchedule): Promise<StoredSchedule> {
    this.assertOpen();
    return this.schedules.put(schedule);
  }

  async deleteSchedule(name: string): Promise<boolean> {
    this.assertOpen();
    return this.schedules.delete(name);
  }

  async listSchedules(): Promise<readonly StoredSchedule[]> {
    this.assertOpen();
    return this.schedules.list();
  }

  async fireSchedule(request: FireScheduleRequest): Promise<FireScheduleResult> {
    return this.mutate((): FireScheduleResult => {
      const schedule = this.schedules.at(request.name, request.revision, request.tick);
      if (schedule === undefined) return { type: "lost" };
      // Inserted first: a job the store refuses leaves the schedule where it was.
      const inserted = request.job === undefined ? undefined : this.insertNow({ jobs: [request.job], onDuplicate: "return-existing", now: request.now }).jobs[0];
      return { type: "fired", schedule: this.schedules.advance(schedule, request.nextRunAt, request.tick), job: inserted };
    });
  }

  async claimJobs(request: ClaimRequest): Promise<ClaimResult> {
    return this.mutate(() => {
      const { now } = request;
      const types = new Set(request.types);
      const candidates: AdmissionCandidate[] = [];
      let nextDue: number | undefined;
      for (const id of this.pending) {
        const job = this.mustGet(id);
        if (!types.has(job.type)) continue;
        if (job.runAt <= now) candidates.push({ id, priority: job.priority, runAt: job.runAt, seq: job.seq, resources: job.resources });
        else nextDue = Math.min(nextDue ?? Infinity, job.runAt.getTime());
      }
      const admission = admitJobs(candidates, {
        slots: request.limit, free: request.free, capacity: request.capacity, starvationMs: request.starvationMs, now,
      });
      const claimed = admission.admitted.map((id): ClaimedJob => {
        const job = this.mustGet(id);
        update(job, {
          status: "running", attempt: job.attempt + 1, startedAt: now, leaseToken: randomUUID(),
          leaseExpiresAt: new Date(now.getTime() + request.leaseMs), cancelRequested: false,
        });
        job.attempts = attemptOpened(job.attempts, { attempt: job.attempt, startedAt: now, workerId: request.workerId });
        this.track(job, "pending", now);
        return { job: toRecord(job), lease: leaseOf(job) };
      });
      if (claimed.length >= request.limit || nextDue === undefined) return { claimed, unschedulable: admission.unschedulable };
      return { claimed, unschedulable: admission.unschedulable, nextDueInMs: nextDue - now.getTime() };
    });
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number, now: Date): Promise<readonly HeartbeatResult[]> {
    this.assertOpen();
    return leases.map(({ jobId, token }): HeartbeatResult => {
      const job = this.holding(jobId, token);
      if (job === undefined) return { jobId, state: "lost" };
      job.leaseExpiresAt = new Date(now.getTime() + leaseMs);
      return { jobId, state: job.cancelRequested ? "cancel-requested" : "alive" };
    });
  }

  async settle(settlements: readonly Settlement[], now: Date): Promise<readonly SettleResult[]> {
    return this.mutate(() => {
      // Results are made JSON before anything changes, so a value PostgreSQL would refuse changes nothing.
      const results = settlements.map(({ outcome }) => (outcome.type === "completed" ? toJson(outcome.result) : null));
      const settled = settlements.map((settlement, i) => this.settleOne(settlement, results[i] ?? null, now));
      // Every outcome first, then one cascade from all the batch's failed and cancelled jobs (as
      // PostgreSQL does): a dependent of two of them is blamed as `planCascade` says, not by batch order.
      const roots = settled.flatMap((r) => (r.type === "settled" && (r.job.status === "failed" || r.job.status === "cancelled") ? [this.mustGet(r.job.id)] : []));
      if (roots.length === 0) return settled;
      const byRoot = new Map<JobId, JobId[]>();
      for (const victim of this.cascade(roots, now)) {
        const ofRoot = byRoot.get(victim.root);
        if (ofRoot === undefined) byRoot.set(victim.root, [victim.id]);
        else ofRoot.push(victim.id);
      }
      return settled.map((r) => (r.type === "settled" && byRoot.has(r.job.id) ? { ...r, cancelled: byRoot.get(r.job.id) ?? [] } : r));
    });
  }

  async findExpiredLeases(now: Date, limit: number): Promise<readonly ExpiredLease[]> {
    this.assertOpen();
    return [...this.running]
      .map((id) => this.mustGet(id))
      .filter((job) => job.leaseExpiresAt !== undefined && job.leaseExpiresAt <= now)
      .sort((a, b) => (a.leaseExpiresAt?.getTime() ?? 0) - (b.leaseExpiresAt?.getTime() ?? 0) || a.seq - b.seq)
      .slice(0, Math.max(0, limit))
      .map((job) => ({ job: toRecord(job), lease: leaseOf(job) }));
  }

  async cancelJobs(ids: readonly JobId[], now: Date): Promise<CancelResult> {
    return this.mutate(() => {
      const cancelled = new Set<JobId>();
      const cancelRequested: JobId[] = [];
      const notFound: JobId[] = [];
      const roots: StoredJob[] = [];
      for (const id of new Set(ids)) {
        const job = this.jobs.get(id);
        if (job === undefined) notFound.push(id);
        else if (job.status === "blocked" || job.status === "pending") {
          const from = job.status;
          update(job, { status: "cancelled", finishedAt: now, cancelCause: undefined });
          this.recordTransition(job, from, now);
          cancelled.add(id);
          roots.push(job);
        } else if (job.status === "running") {
          job.cancelRequested = true;
          job.updatedAt = now;
          this.changes.push({ ...changeOf(job, now), cancelRequested: true });
          cancelRequested.push(id);
        }
      }
      // Every job asked for first, then one cascade from all of them (as PostgreSQL does): a dependent
      // that was itself asked for is cancelled as asked, not blamed on its dependency.
      for (const victim of this.cascade(roots, now)) cancelled.add(victim.id);
      return { cancelled: [...cancelled], cancelRequested, notFound };
    });
  }

  async retryJob(id: JobId, now: Date): Promise<RetryResult> {
    return this.mutate(() => {
      const job = this.jobs.get(id);
      if (job === undefined) throw new JobNotFoundError(id);
      const lookup = (jobId: JobId) => this.jobs.get(jobId);
      const restart = planRestart(job, (jobId) => lookup(jobId)?.status);
      const plan = planRevival(id, this.graph.cascadedBelow(id, lookup), (jobId) => lookup(jobId)?.status);
      const revived = plan.revive.map(({ id: jobId }) => this.mustGet(jobId));
      this.assertKeysFree([job, ...revived]);

      const from = job.status;
      update(job, {
        status: restart.status, attempt: 0, error: undefined, result: undefined, finishedAt: undefined, startedAt: undefined,
        runAt: now, cancelCause: undefined, unfinished: restart.status === "blocked" ? restart.unfinished : 0,
      });
      this.recordTransition(job, from, now);
      for (const { id: victimId, cause, causeStatus } of plan.reattributed) {
        update(this.mustGet(victimId), { cancelCause: cause, error: dependencyError(cause, causeStatus) });
      }
      for (const { id: dependentId, unfinished } of plan.revive) {
        const dependent = this.mustGet(dependentId);
        update(dependent, { status: "blocked", error: undefined, finishedAt: undefined, cancelCause: undefined, unfinished });
        this.recordTransition(dependent, "cancelled", now);
      }
      return { job: toRecord(job), revived: plan.revive.map((r) => r.id) };
    });
  }

  async getJob(id: JobId): Promise<JobRecord | undefined> {
    this.assertOpen();
    const job = this.jobs.get(id);
    return job === undefined ? undefined : toRecord(job);
  }

  async getJobs(ids: readonly JobId[]): Promise<readonly JobRecord[]> {
    this.assertOpen();
    return [...new Set(ids)].flatMap((id) => {
      const job = this.jobs.get(id);
      return job === undefined ? [] : [toRecord(job)];
    });
  }

  async listJobs(query: ListQuery): Promise<ListPage> {
    this.assertOpen();
    const statuses = query.status?.length ? new Set(query.status) : undefined;
    const types = query.type?.length ? new Set(query.type) : undefined;
    const matches = (job: StoredJob) => (!statuses || statuses.has(job.status)) && (!types || types.has(job.type));
    const page: StoredJob[] = [];
    const maxBytes = query.maxBytes ?? Number.POSITIVE_INFINITY;
    let bytes = 0;
    let more = false;
    for (let seq = decodeCursor(query.cursor, this.bySeq.length) - 1; seq >= 0; seq--) {
      const job = this.bySeq[seq];
      if (job === undefined || !matches(job)) continue;
      const size = maxBytes === Number.POSITIVE_INFINITY ? 0 : jobBytes(job);
      if (page.length >= query.limit || (page.length > 0 && bytes + size > maxBytes)) {
        more = true;
        break;
      }
      bytes += size;
      page.push(job);
    }
    const last = page.at(-1);
    return { jobs: page.map(toRecord), nextCursor: more && last ? encodePageCursor(last.seq) : undefined };
  }

  async countJobs(): Promise<JobCounts> {
    this.assertOpen();
    const pendingByPriority = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
    for (const id of this.pending) pendingByPriority[this.mustGet(id).priority]++;
    return { byStatus: { ...this.byStatus }, pendingByPriority };
  }

  async listFinishedJobIds(query: FinishedJobsQuery): Promise<FinishedJobIds> {
    this.assertOpen();
    const statuses = new Set(query.status.filter((status) => TERMINAL_STATUSES.includes(status)));
    const types = query.type?.length ? new Set(query.type) : undefined;
    const after = query.finishedAfter?.getTime() ?? Number.NEGATIVE_INFINITY;
    const before = query.finishedBefore?.getTime() ?? Number.POSITIVE_INFINITY;
    const ids: JobId[] = [];
    let last: StoredJob | undefined;
    const start = query.cursor === undefined ? 0 : decodeCursor(query.cursor, this.bySeq.length) + 1;
    for (let seq = start; seq < this.bySeq.length && ids.length < query.limit; seq++) {
      const job = this.bySeq[seq];
      if (job === undefined || !statuses.has(job.status) || (types !== undefined && !types.has(job.type))) continue;
      const finished = (job.finishedAt ?? job.updatedAt).getTime();
      if (finished < after || finished >= before) continue;
      ids.push(job.id);
      last = job;
    }
    return { ids, nextCursor: ids.length >= query.limit && last !== undefined ? encodePageCursor(last.seq) : undefined };
  }

  async walkGraph(id: JobId, direction: GraphDirection, limit: number): Promise<readonly JobId[]> {
    this.assertOpen();
    return this.graph.walk(id, direction, Math.floor(limit), (jobId) => this.jobs.get(jobId));
  }

  async deleteFinishedJobs(request: DeleteFinishedRequest): Promise<number> {
    this.assertOpen();
    const cutoffs: Partial<Record<JobStatus, Date | undefined>> = {
      completed: request.completedBefore, failed: request.failedBefore, cancelled: request.cancelledBefore,
    };
    const endedAt = (job: StoredJob) => (job.finishedAt ?? job.updatedAt).getTime();
    const doomed = [...this.jobs.values()]
      .filter((job) => {
        const cutoff = cutoffs[job.status];
        if (cutoff === undefined || endedAt(job) >= cutoff.getTime()) return false;
        // As on PostgreSQL: a completed job stays while a dependent waits for it, a failed or cancelled one while any depends on it.
        return job.status === "completed" ? !this.hasLiveDependent(job.id) : !this.graph.dependentsOf(job.id).some((id) => this.jobs.has(id));
      })
      .sort((a, b) => endedAt(a) - endedAt(b) || a.seq - b.seq)
      .slice(0, Math.max(0, Math.floor(request.limit)));
    for (const job of doomed) this.remove(job);
    return doomed.length;
  }

  async appendLogs(lines: readonly NewLogLine[]): Promise<void> {
    this.assertOpen();
    for (const line of lines) if (!this.jobs.has(line.jobId)) throw new JobNotFoundError(line.jobId);
    const entries = lines.map((line) => ({ line, data: line.data === undefined ? undefined : toJson(line.data) }));
    for (const { line, data } of entries) {
      const entry: HandlerLine = { at: new Date(line.at), attempt: line.attempt, level: line.level, message: line.message };
      this.logsOf(line.jobId).push(data === undefined ? entry : { ...entry, data });
    }
  }

  async listLogs(jobId: JobId): Promise<readonly LogEntry[]> {
    this.assertOpen();
    const job = this.jobs.get(jobId);
    if (job === undefined) return [];
    return deriveJobLogs(job, this.logs.get(jobId) ?? []).map((entry) => {
      const copy: LogEntry = { ...entry, at: new Date(entry.at) };
      return entry.data === undefined ? copy : { ...copy, data: structuredClone(entry.data) };
    });
  }

  subscribe(listener: ChangeListener): Unsubscribe {
    this.assertOpen();
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private settleOne({ lease, outcome: asked, onlyIfExpired }: Settlement, result: Json, now: Date): SettleResult {
    const job = this.holding(lease.jobId, lease.token);
    if (job === undefined) return { type: "lost", jobId: lease.jobId };
    if (onlyIfExpired === true && !(job.leaseExpiresAt !== undefined && job.leaseExpiresAt <= now)) return { type: "lost", jobId: lease.jobId };
    const outcome = job.cancelRequested ? outcomeUnderCancelRequest(asked, onlyIfExpired === true) : asked;
    update(job, { leaseToken: undefined, leaseExpiresAt: undefined, cancelRequested: false });
    const error = outcome.type === "completed" || outcome.type === "interrupted" ? undefined : outcome.error;
    job.attempts = attemptClosed(job.attempts, { finishedAt: now, outcome: outcome.type, ...(error ? { error } : {}) });
    let unblocked: readonly JobId[] = [];
    switch (outcome.type) {
      case "completed":
        update(job, { status: "completed", result, finishedAt: now });
        this.track(job, "running", now);
        unblocked = this.unblockDependents(job, now);
        break;
      case "retry":
        update(job, { status: "pending", error: { ...outcome.error }, runAt: new Date(outcome.runAt) });
        this.track(job, "running", now);
        break;
      case "failed":
      case "cancelled":
        // Its dependents are cancelled by `settle`, once for the whole batch.
        update(job, { status: outcome.type, error: { ...outcome.error }, finishedAt: now });
        this.track(job, "running", now);
        break;
      case "interrupted":
        update(job, { status: "pending", attempt: Math.max(0, job.attempt - 1) });
        this.track(job, "running", now);
        break;
      default:
        assertNever(outcome);
    }
    return { type: "settled", job: toRecord(job), unblocked, cancelled: [] };
  }

  /** Dependents whose last unfinished dependency was `job` become pending. */
  private unblockDependents(job: StoredJob, now: Date): JobId[] {
    const unblocked: JobId[] = [];
    for (const id of this.graph.dependentsOf(job.id)) {
      const dependent = this.mustGet(id);
      if (dependent.status !== "blocked" || --dependent.unfinished > 0) continue;
      update(dependent, { status: "pending", runAt: dependent.runAt < now ? now : dependent.runAt });
      this.recordTransition(dependent, "blocked", now);
      unblocked.push(id);
    }
    return unblocked;
  }

  /** Cancels every transitive dependent of the failed or cancelled `roots` that has not started. */
  private cascade(roots: readonly StoredJob[], now: Date): CascadeVictim[] {
    if (roots.length === 0) return [];
    const victims = planCascade(roots.map((root) => ({ id: root.id, status: root.status })), (id) => this.graph.dependentsOf(id), (id) => this.jobs.get(id));
    for (const { id, cause, causeStatus } of victims) {
      const victim = this.mustGet(id);
      const from = victim.status;
      const error = dependencyError(cause, causeStatus);
      update(victim, { status: "cancelled", error, finishedAt: now, cancelCause: cause });
      this.recordTransition(victim, from, now, error);
    }
    return victims;
  }

  /** Inserts inside one atomic call: planned whole first, so a refused insert stores nothing. */
  private insertNow(request: InsertRequest): InsertResult {
    const planned = this.planInsert(request);
    for (const { type, job } of planned) {
      if (type === "existing") continue;
      this.jobs.set(job.id, job);
      this.bySeq.push(job);
      this.graph.addEdges(job.id, job.dependsOn);
      if (job.status !== "pending") {
        job.transitions.push({ at: request.now, from: null, to: job.status, attempt: 0, ...(job.error ? { error: { ...job.error } } : {}) });
      }
      this.track(job, null, request.now);
    }
    return { jobs: planned.map(({ type, job }) => ({ type, job: toRecord(job) })) };
  }

  /** Validates a whole insert and builds its records without storing anything. */
  private planInsert({ jobs, onDuplicate, now }: InsertRequest): PlannedInsert[] {
    const plan = planInsert(jobs, onDuplicate, { stored: (id) => this.jobs.get(id), liveHolder: (key) => this.liveHolder(key) });
    let seq = this.bySeq.length;
    const made = new Map<JobId, StoredJob>();
    return plan.map((entry): PlannedInsert => {
      // The job holding the key may be one made earlier in this batch.
      if (entry.type === "existing") return { type: "existing", job: made.get(entry.holder.id) ?? this.mustGet(entry.holder.id) };
      const { node, status, cause } = entry;
      const job: StoredJob = {
        id: node.id, type: node.type, status, priority: node.priority, payload: toJson(node.payload), result: undefined,
        error: entry.error, attempt: 0, maxAttempts: node.maxAttempts, backoff: { ...node.backoff }, dependsOn: [...entry.dependsOn],
        idempotencyKey: node.idempotencyKey, resources: { ...node.resources }, timeoutMs: node.timeoutMs, runAt: new Date(node.runAt),
        createdAt: now, updatedAt: now, startedAt: undefined, finishedAt: cause ? now : undefined, seq: seq++, unfinished: entry.unfinished,
        leaseToken: undefined, leaseExpiresAt: undefined, cancelRequested: false, cancelCause: cause?.id, attempts: [], transitions: [],
      };
      made.set(job.id, job);
      return { type: "inserted", job };
    });
  }

  /**
   * Records a status change not made by a claim or settle (already applied to `job`) in its
   * history, and keeps indexes, counts and the change feed in step.
   */
  private recordTransition(job: StoredJob, from: JobStatus, now: Date, error?: ErrorInfo): void {
    job.transitions.push({ at: now, from, to: job.status, attempt: job.attempt, ...(error ? { error: { ...error } } : {}) });
    this.track(job, from, now);
  }

  /** Keeps indexes, counts and the change feed in step with a status change already applied to `job`. */
  private track(job: StoredJob, from: JobStatus | null, now: Date): void {
    job.updatedAt = now;
    if (from !== null) this.byStatus[from]--;
    this.byStatus[job.status]++;
    toggle(this.pending, job.id, job.status === "pending");
    toggle(this.running, job.id, job.status === "running");
    const key = job.idempotencyKey;
    if (key !== undefined && LIVE.has(job.status)) this.liveKeys.set(key, job.id);
    else if (key !== undefined && this.liveKeys.get(key) === job.id) this.liveKeys.delete(key);
    this.changes.push(changeOf(job, now));
  }

  private hasLiveDependent(id: JobId): boolean {
    return this.graph.dependentsOf(id).some((dependent) => {
      const status = this.jobs.get(dependent)?.status;
      return status !== undefined && LIVE.has(status);
    });
  }

  /** Deletes a terminal job with its logs and edges, as PostgreSQL's cascading foreign keys do. */
  private remove(job: StoredJob): void {
    for (const id of this.graph.dependentsOf(job.id)) {
      const dependent = this.jobs.get(id);
      if (dependent !== undefined) dependent.dependsOn = dependent.dependsOn.filter((dependency) => dependency !== job.id);
    }
    this.graph.removeJob(job.id, job.dependsOn);
    this.jobs.delete(job.id);
    // The slot stays (empty) so that seq keeps indexing bySeq; listJobs skips it.
    this.bySeq[job.seq] = undefined;
    this.byStatus[job.status]--;
    this.logs.delete(job.id);
  }

  /** Coming back to life must not give a second live job an idempotency key (as PostgreSQL's `assertKeysFree` answers). */
  private assertKeysFree(jobs: readonly StoredJob[]): void {
    const claimed = new Map<string, JobId>();
    for (const job of jobs) {
      const key = job.idempotencyKey;
      if (key === undefined) continue;
      const holder = this.liveHolder(key);
      if (holder !== undefined && holder.id !== job.id) throw new DuplicateJobError(holder.id, holder.status, key);
      // Another job coming back with it: named with the status it would come back in, not its cancelled one.
      const sibling = claimed.get(key);
      if (sibling !== undefined) throw new DuplicateJobError(sibling, "blocked", key);
      claimed.set(key, job.id);
    }
  }

  private liveHolder(key: string): StoredJob | undefined {
    const id = this.liveKeys.get(key);
    return id === undefined ? undefined : this.jobs.get(id);
  }

  /** The job if `token` is its current lease, else undefined. */
  private holding(jobId: JobId, token: string): StoredJob | undefined {
    const job = this.jobs.get(jobId);
    return job?.status === "running" && job.leaseToken === token ? job : undefined;
  }

  private mustGet(id: JobId): StoredJob {
    const job = this.jobs.get(id);
    if (job === undefined) throw new JobNotFoundError(id);
    return job;
  }

  private logsOf(id: JobId): HandlerLine[] {
    let entries = this.logs.get(id);
    if (entries === undefined) this.logs.set(id, (entries = []));
    return entries;
  }

  /** Runs one atomic call, then publishes the changes it made as one batch. */
  private mutate<T>(fn: () => T): T {
    this.assertOpen();
    try {
      return fn();
    } finally {
      this.publish();
    }
  }

  private publish(): void {
    const changes = this.changes;
    this.changes = [];
    if (changes.length === 0 || this.listeners.size === 0) return;
    for (const listener of this.listeners) {
      queueMicrotask(() => {
        if (!this.listeners.has(listener)) return;
        try {
          listener.onChange(changes.map((change) => ({ ...change, at: new Date(change.at) })));
        } catch {
          // A subscriber's failure is its own; the store and the other subscribers carry on.
        }
      });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new QueueClosedError("the storage is closed");
  }
}

function toggle(set: Set<JobId>, id: JobId, present: boolean): void {
  if (present) set.add(id);
  else set.delete(id);
}

/** The seq below which the page starts; no cursor starts past the newest job. */
function decodeCursor(cursor: string | undefined, end: number): number {
  if (cursor === undefined) return end;
  const seq = decodePageCursor(cursor);
  return seq > BigInt(end) ? end : Number(seq);
}
