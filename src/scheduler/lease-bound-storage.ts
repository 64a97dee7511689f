import type { Clock } from "../clock.js";
import type {
  AttemptTransaction, CancelResult, ChangeListener, ClaimRequest, ClaimResult, DeleteFinishedRequest, ExpiredLease, FinishedJobIds, FinishedJobsQuery,
  FireScheduleRequest, FireScheduleResult, GraphDirection, HeartbeatResult, InsertRequest, InsertResult, JobCounts, Lease, ListPage, ListQuery,
  NewSchedule, RetryResult, SettleResult, Settlement, Storage, StoredSchedule, Unsubscribe,
} from "../storage/storage.js";
import type { JobId, JobRecord, LogEntry, NewLogLine } from "../types.js";
import { withDeadline } from "./deadline.js";

/**
 * The store as a worker calls it: every call its loops wait on (claim, heartbeat, settle, rescue,
 * prune, log writes, dependency reads, schedule ticks) fails with a `StorageError` once it has gone
 * unanswered for a lease, and asks the store to replace its connections. An answer later than a lease is of no use
 * (the leases it concerns have expired), and a call that never answers would stop the loop, the
 * settle batcher or the rescuer for good, and with them `shutdown()`. The failed call is then
 * retried by its loop, or its attempt is left to the rescuer once its lease expires.
 */
export class LeaseBoundStorage implements Storage {
  /** The store's own attempt transactions, when it has them (their commit is bounded by the store). */
  readonly openAttemptTransaction?: (lease: Lease) => AttemptTransaction;

  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly leaseMs: number,
  ) {
    const open = storage.openAttemptTransaction;
    if (open !== undefined) this.openAttemptTransaction = (lease) => open.call(storage, lease);
  }

  setup(): Promise<void> {
    return this.storage.setup();
  }

  close(): Promise<void> {
    return this.storage.close();
  }

  insertJobs(request: InsertRequest): Promise<InsertResult> {
    return this.storage.insertJobs(request);
  }

  claimJobs(request: ClaimRequest): Promise<ClaimResult> {
    return this.bound(this.storage.claimJobs(request), "claim");
  }

  resetConnections(): void {
    this.storage.resetConnections?.();
  }

  heartbeat(leases: readonly Lease[], leaseMs: number, now: Date): Promise<readonly HeartbeatResult[]> {
    return this.bound(this.storage.heartbeat(leases, leaseMs, now), "heartbeat");
  }

  settle(settlements: readonly Settlement[], now: Date): Promise<readonly SettleResult[]> {
    return this.bound(this.storage.settle(settlements, now), "settle");
  }

  findExpiredLeases(now: Date, limit: number): Promise<readonly ExpiredLease[]> {
    return this.bound(this.storage.findExpiredLeases(now, limit), "find expired leases");
  }

  cancelJobs(ids: readonly JobId[], now: Date): Promise<CancelResult> {
    return this.storage.cancelJobs(ids, now);
  }

  retryJob(id: JobId, now: Date): Promise<RetryResult> {
    return this.storage.retryJob(id, now);
  }

  getJob(id: JobId): Promise<JobRecord | undefined> {
    return this.bound(this.storage.getJob(id), "get job");
  }

  getJobs(ids: readonly JobId[]): Promise<readonly JobRecord[]> {
    return this.bound(this.storage.getJobs(ids), "get jobs");
  }

  listJobs(query: ListQuery): Promise<ListPage> {
    return this.storage.listJobs(query);
  }

  countJobs(): Promise<JobCounts> {
    return this.storage.countJobs();
  }

  listFinishedJobIds(query: FinishedJobsQuery): Promise<FinishedJobIds> {
    return this.storage.listFinishedJobIds(query);
  }

  walkGraph(id: JobId, direction: GraphDirection, limit: number): Promise<readonly JobId[]> {
    return this.storage.walkGraph(id, direction, limit);
  }

  deleteFinishedJobs(request: DeleteFinishedRequest): Promise<number> {
    return this.bound(this.storage.deleteFinishedJobs(request), "delete finished jobs");
  }

  appendLogs(lines: readonly NewLogLine[]): Promise<void> {
    return this.bound(this.storage.appendLogs(lines), "append logs");
  }

  listLogs(jobId: JobId): Promise<readonly LogEntry[]> {
    return this.storage.listLogs(jobId);
  }

  putSchedule(schedule: NewSchedule): Promise<StoredSchedule> {
    return this.storage.putSchedule(schedule);
  }

  deleteSchedule(name: string): Promise<boolean> {
    return this.storage.deleteSchedule(name);
  }

  listSchedules(): Promise<readonly StoredSchedule[]> {
    return this.bound(this.storage.listSchedules(), "list schedules");
  }

  fireSchedule(request: FireScheduleRequest): Promise<FireScheduleResult> {
    return this.bound(this.storage.fireSchedule(request), "fire schedule");
  }

  subscribe(listener: ChangeListener): Unsubscribe {
    return this.storage.subscribe(listener);
  }

  private bound<T>(work: Promise<T>, what: string): Promise<T> {
    return withDeadline(this.clock, work, this.leaseMs, what, () => this.storage.resetConnections?.());
  }
}
