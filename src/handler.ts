import type { PayloadSchema } from "./payload-schema.js";
import type { BackoffPolicy, Json, JobId, JobRecord, LogLevel, Priority, Resources } from "./types.js";

/** What a handler gets besides its payload. */
export interface JobContext {
  /** The job as claimed for this attempt. */
  readonly job: JobRecord;
  /** This attempt's number, 1-based. */
  readonly attempt: number;
  /** Aborts on timeout, cancel, shutdown or a lost lease; `signal.reason` says which. */
  readonly signal: AbortSignal;
  /** The results of the jobs this one depends on, by id. */
  readonly dependencies: Readonly<Record<JobId, Json | undefined>>;
  /** Stores a line in the job's history (`getJobLogs`), with this attempt's number. */
  log(level: LogLevel, message: string, data?: unknown): void;
  /**
   * PostgresStorage: the attempt's postgres.js `TransactionSql` (typed by `attemptSql(ctx)`), opened
   * on first use, in which the job's completion is committed, so the handler's writes and the
   * completion happen together or not at all. Used after the handler returned, it rejects with
   * `AttemptFinishedError`. Undefined with stores that have none.
   */
  readonly tx: unknown;
}

/**
 * What `defineHandler` takes. `P` is the payload as the handler sees it (the schema's output), `I`
 * the payload as `enqueue` takes it (the schema's input; without a schema, `P`), `R` the result.
 */
export interface HandlerDefinition<P, R, I = P> {
  /**
   * Any Standard Schema (zod 4, zod 3.24+, valibot, arktype...): payloads are validated at enqueue
   * (when this process knows the type) and at run, where the handler gets the schema's output.
   */
  readonly payload?: PayloadSchema<I, P>;
  readonly priority?: Priority;
  readonly retry?: { readonly maxAttempts?: number; readonly backoff?: Partial<BackoffPolicy> };
  readonly timeoutMs?: number;
  readonly resources?: Resources;
  /** `"payload"`: the idempotency key is a hash of the type and the payload. */
  readonly deduplicate?: "payload";
  readonly run: (payload: P, ctx: JobContext) => Promise<R> | R;
}

/** A typed reference to a registered handler, for `enqueue`: `P` is the payload `enqueue` takes, `R` the result. */
export interface HandlerRef<P = Json, R = unknown> {
  readonly type: string;
  /** Type-level only: the payload (the schema's input) and result types. */
  readonly __types?: { payload: P; result: R };
}

/** A handler as the queue keeps it: options parsed, defaults filled in. */
export interface RegisteredHandler {
  readonly type: string;
  readonly payload: PayloadSchema | undefined;
  readonly priority: Priority;
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
  readonly timeoutMs: number | undefined;
  readonly resources: Resources;
  readonly deduplicate: "payload" | undefined;
  readonly run: (payload: unknown, ctx: JobContext) => unknown;
}

