export { Queue } from "./queue.js";
export type { ListJobsQuery, JobPage } from "./queue.js";
export { DEFAULT_LIST_PAGE_BYTES } from "./queue.js";
export { MAX_GRAPH_BYTES, MAX_GRAPH_JOBS } from "./job-graph.js";
export type { JobGraph } from "./job-graph.js";
export { DEFAULT_RETRY_MANY, MAX_RETRY_MANY } from "./redrive.js";
export type { RetryManyFilter } from "./redrive.js";
export { MAX_JSON_DEPTH } from "./json-value.js";
export { MIN_JOB_DATE, MAX_JOB_DATE } from "./options.js";
export { MemoryStorage } from "./storage/memory.js";
export type {
  Storage,
  ChangeListener,
  Unsubscribe,
  InsertRequest,
  InsertResult,
  InsertedJob,
  ClaimRequest,
  ClaimResult,
  ClaimedJob,
  Lease,
  HeartbeatResult,
  Outcome,
  Settlement,
  SettleResult,
  ExpiredLease,
  CancelResult,
  RetryResult,
  ListQuery,
  ListPage,
  FinishedJobsQuery,
  FinishedJobIds,
  GraphDirection,
  JobCounts,
  AttemptTransaction,
  SqlTransaction,
  NewSchedule,
  StoredSchedule,
  FireScheduleRequest,
  FireScheduleResult,
} from "./storage/storage.js";
export {
  QueueError,
  ValidationError,
  DependencyCycleError,
  UnknownDependencyError,
  DuplicateJobError,
  JobNotFoundError,
  JobTimeoutError,
  QueueClosedError,
  UnknownJobTypeError,
  InvalidStateError,
  LeaseLostError,
  SchemaTooNewError,
  StorageError,
  WaitTimeoutError,
  AttemptFinishedError,
  SchemaNotMigratedError,
  PermanentError,
  PeerDependencyMissingError,
  isQueueError,
  toErrorInfo,
} from "./errors.js";
export type { QueueErrorCode } from "./errors.js";
export type { HandlerDefinition, HandlerRef, JobContext } from "./handler.js";
export type { PayloadSchema } from "./payload-schema.js";
export type { QueueEvents, QueueEventName, QueueListener } from "./events.js";
export type { QueueMetrics, Percentiles } from "./metrics.js";
export type { HistogramSnapshot, JobTypeTotals, MetricsTotals } from "./metrics-totals.js";
export type { QueueOptions, EnqueueOptions, EnqueueManyOptions, GraphNodeInput, Logger } from "./options.js";
export { ManualClock, systemClock } from "./clock.js";
export type { Clock, TimerHandle } from "./clock.js";
export { admitJobs, effectivePriority, fits } from "./resources.js";
export type { AdmissionCandidate, AdmissionRequest, Admission } from "./resources.js";
export { JOB_STATUSES, PRIORITIES, TERMINAL_STATUSES, LIVE_STATUSES, LOG_LEVELS, MISFIRE_POLICIES, ATTEMPT_OUTCOMES } from "./types.js";
export type { ScheduleInput } from "./schedule/schedule-input.js";
export type {
  JobId,
  JobStatus,
  Priority,
  Resources,
  Json,
  ErrorInfo,
  BackoffPolicy,
  JobRecord,
  AttemptRecord,
  AttemptOutcome,
  NewJob,
  NewLogLine,
  LogEntry,
  LogLevel,
  JobChange,
  MisfirePolicy,
  ScheduleJobOptions,
  ScheduleRecord,
} from "./types.js";
