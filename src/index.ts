export { QueueError, ValidationError, DependencyCycleError, UnknownDependencyError, DuplicateJobError, JobNotFoundError, JobTimeoutError, QueueClosedError, UnknownJobTypeError, InvalidStateError, LeaseLostError, SchemaTooNewError, StorageError, PermanentError } from "./errors.js";
export type { QueueErrorCode } from "./errors.js";
export { ManualClock, systemClock } from "./clock.js";
export type { Clock, TimerHandle } from "./clock.js";
export { JOB_STATUSES, PRIORITIES } from "./types.js";
export type { JobId, JobStatus, Priority, Resources, Json, ErrorInfo, BackoffPolicy, JobRecord, LogEntry, LogLevel, JobChange } from "./types.js";
