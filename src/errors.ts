import type { ErrorInfo, JobId, JobStatus } from "./types.js";

/** Every error code jobgraph raises. */
export type QueueErrorCode =
  | "VALIDATION"
  | "DEPENDENCY_CYCLE"
  | "UNKNOWN_DEPENDENCY"
  | "DUPLICATE_JOB"
  | "JOB_NOT_FOUND"
  | "JOB_TIMEOUT"
  | "QUEUE_CLOSED"
  | "UNKNOWN_JOB_TYPE"
  | "INVALID_STATE"
  | "LEASE_LOST"
  | "SCHEMA_TOO_NEW"
  | "STORAGE"
  | "WAIT_TIMEOUT"
  | "ATTEMPT_FINISHED"
  | "PEER_DEPENDENCY_MISSING"
  | "SCHEMA_NOT_MIGRATED";

/**
 * Marks jobgraph's errors across copies of the library: the ESM and CommonJS builds (or two
 * installed versions) each have their own classes, so a plain `instanceof` fails when one copy
 * throws and the other checks. `Symbol.for` is the same symbol in every copy.
 */
const QUEUE_ERROR_BRAND = Symbol.for("jobgraph.QueueError");
const PERMANENT_ERROR_BRAND = Symbol.for("jobgraph.PermanentError");
/** The brand's value: which copy made the error, so within one copy `instanceof` stays the prototype check. */
const THIS_COPY: object = Object.freeze({});

/** Whether `err` is a jobgraph `QueueError`, from this copy of jobgraph or any other (ESM or CommonJS build). */
export function isQueueError(err: unknown): err is QueueError {
  return typeof err === "object" && err !== null && typeof (err as { [QUEUE_ERROR_BRAND]?: unknown })[QUEUE_ERROR_BRAND] === "object";
}

/** The base of every error jobgraph throws; `code` is a literal that callers can switch on. */
export class QueueError<C extends QueueErrorCode = QueueErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown; details?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    Object.defineProperty(this, QUEUE_ERROR_BRAND, { value: THIS_COPY });
    if (options?.details !== undefined) this.details = options.details;
  }

  /**
   * `instanceof` that also recognises errors of another copy of jobgraph (its ESM and CommonJS
   * builds): any of its errors is a `QueueError`, and a subclass matches the errors with its own
   * static `code` (or, for a subclass without one, its name). Within one copy it is the plain
   * prototype check. (`code` is a static getter, not a static field: the CommonJS build compiles
   * static fields into anonymous classes, which would lose their names.)
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!isQueueError(value) || (value as { [QUEUE_ERROR_BRAND]?: unknown })[QUEUE_ERROR_BRAND] === THIS_COPY) return false;
    if (this === QueueError) return true;
    return Object.hasOwn(this, "code") ? value.code === (this as { code?: unknown }).code : value.name === this.name;
  }
  /** Structured detail for callers (field errors, ids); never a stack or a database message. */
  readonly details?: unknown;
}

/** Input that does not match the schema of an option, payload or request. */
export class ValidationError extends QueueError<"VALIDATION"> {
  static get code(): "VALIDATION" {
    return "VALIDATION";
  }
  constructor(message: string, readonly issues: readonly { path: string; message: string }[] = [], cause?: unknown) {
    super("VALIDATION", message, { cause, details: issues.length > 0 ? { issues } : undefined });
  }
}

/** A submitted graph has a cycle; `cycle` lists the keys on it, in order, first key repeated last. */
export class DependencyCycleError extends QueueError<"DEPENDENCY_CYCLE"> {
  static get code(): "DEPENDENCY_CYCLE" {
    return "DEPENDENCY_CYCLE";
  }
  constructor(readonly cycle: readonly string[]) {
    super("DEPENDENCY_CYCLE", `dependency cycle: ${cycle.join(" -> ")}`, { details: { cycle } });
  }
}

/** A dependency names neither a key of the submission nor an existing job. */
export class UnknownDependencyError extends QueueError<"UNKNOWN_DEPENDENCY"> {
  static get code(): "UNKNOWN_DEPENDENCY" {
    return "UNKNOWN_DEPENDENCY";
  }
  constructor(readonly dependency: string, readonly dependent?: string) {
    super(
      "UNKNOWN_DEPENDENCY",
      `unknown dependency ${JSON.stringify(dependency)}${dependent === undefined ? "" : ` of ${JSON.stringify(dependent)}`}`,
      { details: { dependency, dependent } },
    );
  }
}

/** A live job (blocked, pending or running) already holds this idempotency key. */
export class DuplicateJobError extends QueueError<"DUPLICATE_JOB"> {
  static get code(): "DUPLICATE_JOB" {
    return "DUPLICATE_JOB";
  }
  constructor(readonly existingJobId: JobId, readonly existingStatus: JobStatus, readonly idempotencyKey: string) {
    super("DUPLICATE_JOB", `a live job already has idempotency key ${JSON.stringify(idempotencyKey)}: ${existingJobId}`, {
      details: { existingJobId, existingStatus },
    });
  }
}

/** No job has this id. */
export class JobNotFoundError extends QueueError<"JOB_NOT_FOUND"> {
  static get code(): "JOB_NOT_FOUND" {
    return "JOB_NOT_FOUND";
  }
  constructor(readonly jobId: string) {
    super("JOB_NOT_FOUND", `job not found: ${jobId}`, { details: { jobId } });
  }
}

/** An attempt ran past its `timeoutMs`. */
export class JobTimeoutError extends QueueError<"JOB_TIMEOUT"> {
  static get code(): "JOB_TIMEOUT" {
    return "JOB_TIMEOUT";
  }
  constructor(readonly timeoutMs: number) {
    super("JOB_TIMEOUT", `attempt timed out after ${timeoutMs} ms`);
  }
}

/** The queue is shutting down or shut down. */
export class QueueClosedError extends QueueError<"QUEUE_CLOSED"> {
  static get code(): "QUEUE_CLOSED" {
    return "QUEUE_CLOSED";
  }
  constructor(message = "the queue is shut down") {
    super("QUEUE_CLOSED", message);
  }
}

/** No handler is registered for this type, or the type is not allowed here. */
export class UnknownJobTypeError extends QueueError<"UNKNOWN_JOB_TYPE"> {
  static get code(): "UNKNOWN_JOB_TYPE" {
    return "UNKNOWN_JOB_TYPE";
  }
  constructor(readonly jobType: string) {
    super("UNKNOWN_JOB_TYPE", `no handler for job type ${JSON.stringify(jobType)}`, { details: { type: jobType } });
  }
}

/** The job's status does not allow the operation (e.g. retrying a completed job). */
export class InvalidStateError extends QueueError<"INVALID_STATE"> {
  static get code(): "INVALID_STATE" {
    return "INVALID_STATE";
  }
  /**
   * `dependency`: when the job's own status allows the operation but a dependency's does not (a
   * retry while a dependency is failed or cancelled, or after retention deleted the failed or
   * cancelled dependency that cancelled it: status `deleted`), that dependency, named in the message.
   */
  constructor(
    readonly jobId: JobId,
    readonly status: JobStatus,
    operation: string,
    readonly dependency?: { readonly id: JobId; readonly status: JobStatus | "deleted" },
  ) {
    super(
      "INVALID_STATE",
      dependency === undefined
        ? `cannot ${operation} job ${jobId} in status ${status}`
        : dependency.status === "deleted"
          ? `cannot ${operation} job ${jobId}: its dependency ${dependency.id}, which cancelled it, was deleted by retention and can never complete`
          : `cannot ${operation} job ${jobId}: its dependency ${dependency.id} is ${dependency.status}; ${operation} that dependency first`,
      { details: dependency === undefined ? { jobId, status } : { jobId, status, dependencyId: dependency.id, dependencyStatus: dependency.status } },
    );
  }
}

/** The worker lost the lease on an attempt (rescued elsewhere, or cancelled); its outcome is discarded. */
export class LeaseLostError extends QueueError<"LEASE_LOST"> {
  static get code(): "LEASE_LOST" {
    return "LEASE_LOST";
  }
  constructor(readonly jobId: JobId) {
    super("LEASE_LOST", `lease lost on job ${jobId}`);
  }
}

/** The database schema was written by a newer jobgraph than this one. */
export class SchemaTooNewError extends QueueError<"SCHEMA_TOO_NEW"> {
  static get code(): "SCHEMA_TOO_NEW" {
    return "SCHEMA_TOO_NEW";
  }
  constructor(readonly databaseVersion: number, readonly codeVersion: number) {
    super("SCHEMA_TOO_NEW", `schema version ${databaseVersion} is newer than this jobgraph knows (${codeVersion})`);
  }
}

/** Storage failed; `cause` holds the driver's error, the message never does. */
export class StorageError extends QueueError<"STORAGE"> {
  static get code(): "STORAGE" {
    return "STORAGE";
  }
  constructor(message: string, cause?: unknown) {
    super("STORAGE", message, { cause });
  }
}

/** Thrown by a handler to fail its job at once, without further attempts. */
export class PermanentError extends Error {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PermanentError";
    Object.defineProperty(this, PERMANENT_ERROR_BRAND, { value: THIS_COPY });
    if (options?.code !== undefined) this.code = options.code;
  }
  readonly code?: string;

  /** Recognises a `PermanentError` of another copy of jobgraph too (its ESM and CommonJS builds). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    const brand = typeof value === "object" && value !== null ? (value as { [PERMANENT_ERROR_BRAND]?: unknown })[PERMANENT_ERROR_BRAND] : undefined;
    return typeof brand === "object" && brand !== THIS_COPY;
  }
}

/** What is stored of a thrown value that cannot be read: a getter that throws, a value with no string form. */
export const UNREADABLE_ERROR: ErrorInfo = Object.freeze({ name: "Error", message: "unreadable error" });

/**
 * What is kept of any thrown value: name, message and a string code, never the stack. Never
 * throws: a value it cannot read (a `message` getter that throws, a null-prototype object
 * holding a BigInt, a hostile Proxy) becomes `UNREADABLE_ERROR`.
 */
export function toErrorInfo(err: unknown): ErrorInfo {
  try {
    if (err instanceof Error) {
      const { name, message } = err;
      const code = (err as { code?: unknown }).code;
      const info = { name: typeof name === "string" ? name : String(name), message: typeof message === "string" ? message : String(message) };
      return typeof code === "string" ? { ...info, code } : info;
    }
    return { name: "Error", message: typeof err === "string" ? err : safeString(err) };
  } catch {
    return UNREADABLE_ERROR;
  }
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** `waitFor` gave up before the job reached a terminal status. */
export class WaitTimeoutError extends QueueError<"WAIT_TIMEOUT"> {
  static get code(): "WAIT_TIMEOUT" {
    return "WAIT_TIMEOUT";
  }
  constructor(readonly jobId: JobId, readonly timeoutMs: number) {
    super("WAIT_TIMEOUT", `job ${jobId} did not finish within ${timeoutMs} ms`, { details: { jobId } });
  }
}

/** `ctx.tx` was used after its attempt ended (the handler returned, or the attempt was committed or rolled back). */
export class AttemptFinishedError extends QueueError<"ATTEMPT_FINISHED"> {
  static get code(): "ATTEMPT_FINISHED" {
    return "ATTEMPT_FINISHED";
  }
  constructor(readonly jobId: JobId, readonly attempt: number) {
    super("ATTEMPT_FINISHED", `ctx.tx of job ${jobId} (attempt ${attempt}) was used after its handler returned`, { details: { jobId, attempt } });
  }
}

/**
 * An optional peer dependency that a feature needs is not installed (`ws` for the Express status
 * socket, `@fastify/websocket` for Fastify's, `prom-client` for Prometheus metrics). The message
 * says what to install.
 */
export class PeerDependencyMissingError extends QueueError<"PEER_DEPENDENCY_MISSING"> {
  static get code(): "PEER_DEPENDENCY_MISSING" {
    return "PEER_DEPENDENCY_MISSING";
  }
  constructor(readonly packageName: string, feature: string, cause?: unknown) {
    super("PEER_DEPENDENCY_MISSING", `install ${packageName} to use ${feature}: npm install ${packageName}`, { cause, details: { package: packageName } });
  }
}

/** The store's tables (or its schema) do not exist yet: nobody ran the migrations against this database. */
export class SchemaNotMigratedError extends QueueError<"SCHEMA_NOT_MIGRATED"> {
  static get code(): "SCHEMA_NOT_MIGRATED" {
    return "SCHEMA_NOT_MIGRATED";
  }
  constructor(readonly schema: string, cause?: unknown) {
    super(
      "SCHEMA_NOT_MIGRATED",
      `the jobgraph tables do not exist in schema ${JSON.stringify(schema)}: run queue.migrate() first (queue.start() migrates too, unless given { migrate: false })`,
      { cause, details: { schema } },
    );
  }
}
