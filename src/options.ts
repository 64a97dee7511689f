import { availableParallelism, hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { systemClock, type Clock } from "./clock.js";
import { ValidationError } from "./errors.js";
import { storableText } from "./json-value.js";
import { isStandardSchema, type PayloadSchema } from "./payload-schema.js";
import { DEFAULT_BACKOFF, DEFAULT_MAX_ATTEMPTS } from "./retry.js";
import type { SqlTransaction, Storage } from "./storage/storage.js";
import { PRIORITIES } from "./types.js";

const resourcesSchema = z.record(
  z.string().min(1).max(64).refine(storableText, "must not contain U+0000 or a lone surrogate"),
  z.number().finite().nonnegative(),
);
const priority = z.enum(PRIORITIES);
const positiveMs = z.number().int().positive().max(2_147_483_647);

/** Backoff as a user may give it: every field optional, defaults from `DEFAULT_BACKOFF`. */
export const backoffSchema = z
  .object({
    type: z.enum(["exponential", "fixed"]).default(DEFAULT_BACKOFF.type),
    baseMs: z.number().int().nonnegative().max(2_147_483_647).default(DEFAULT_BACKOFF.baseMs),
    maxMs: z.number().int().nonnegative().max(2_147_483_647).default(DEFAULT_BACKOFF.maxMs),
    jitter: z.boolean().default(DEFAULT_BACKOFF.jitter),
  })
  .strict();

/** A handler's or a job's retry policy. */
export const retrySchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(1_000).default(DEFAULT_MAX_ATTEMPTS),
    backoff: backoffSchema.default(DEFAULT_BACKOFF),
  })
  .strict();

const storageSchema = z.custom<Storage>(
  (value) => typeof value === "object" && value !== null && typeof (value as Storage).claimJobs === "function",
  { message: "must implement Storage" },
);
const clockSchema = z.custom<Clock>(
  (value) => typeof value === "object" && value !== null && typeof (value as Clock).now === "function",
  { message: "must implement Clock" },
);

/** Where jobgraph reports what no listener handles; `console` and pino fit (`(object, message)` calls). */
export interface Logger {
  warn(object: unknown, message?: string): void;
  error(object: unknown, message?: string): void;
}
const loggerSchema = z.custom<Logger>(
  (value) => typeof value === "object" && value !== null && typeof (value as Logger).warn === "function" && typeof (value as Logger).error === "function",
  { message: "must be false or an object with warn and error functions" },
);

const DAY_MS = 86_400_000;
/** Default retention: completed jobs for 7 days, failed and cancelled ones for 30, looked at every minute. */
export const DEFAULT_RETENTION = { completedMs: 7 * DAY_MS, failedMs: 30 * DAY_MS, cancelledMs: 30 * DAY_MS, intervalMs: 60_000 } as const;
/** Up to a century, so a cutoff is always a valid date. */
const keepMs = z.number().int().positive().max(36_500 * DAY_MS);
/** How long finished jobs are kept before a started queue deletes them, by status, and how often it looks. */
const retentionSchema = z
  .object({
    completedMs: keepMs.default(DEFAULT_RETENTION.completedMs),
    failedMs: keepMs.default(DEFAULT_RETENTION.failedMs),
    cancelledMs: keepMs.default(DEFAULT_RETENTION.cancelledMs),
    intervalMs: positiveMs.min(10).default(DEFAULT_RETENTION.intervalMs),
  })
  .strict();

/** `new Queue(options)`. */
export const queueOptionsSchema = z
  .object({
    storage: storageSchema.optional(),
    capacity: resourcesSchema.optional(),
    concurrency: z.number().int().min(1).max(10_000).default(10),
    prefetch: z.number().int().min(0).max(10_000).default(0),
    leaseMs: positiveMs.min(50).default(30_000),
    heartbeatMs: positiveMs.optional(),
    pollIntervalMs: positiveMs.default(1_000),
    rescueIntervalMs: positiveMs.optional(),
    shutdownGraceMs: z.number().int().nonnegative().max(2_147_483_647).default(30_000),
    starvationMs: positiveMs.default(300_000),
    stuckGraceMs: z.number().int().nonnegative().max(2_147_483_647).default(10_000),
    maxPayloadBytes: z.number().int().positive().default(1_048_576),
    maxGraphNodes: z.number().int().positive().default(10_000),
    workerId: z.string().min(1).max(200).optional(),
    clock: clockSchema.optional(),
    retention: z.union([z.literal(false), retentionSchema]).default(DEFAULT_RETENTION),
    logger: z.union([z.literal(false), loggerSchema]).optional(),
  })
  .strict();
export type QueueOptions = z.input<typeof queueOptionsSchema>;

/** Queue options with every default filled in. */
export interface ResolvedQueueOptions {
  readonly capacity: Readonly<Record<string, number>>;
  readonly concurrency: number;
  /** Jobs claimed ahead of free slots, waiting in this worker (leased, resources reserved) to start. */
  readonly prefetch: number;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly pollIntervalMs: number;
  readonly rescueIntervalMs: number;
  readonly shutdownGraceMs: number;
  readonly starvationMs: number;
  readonly stuckGraceMs: number;
  readonly maxPayloadBytes: number;
  readonly maxGraphNodes: number;
  readonly workerId: string;
  readonly clock: Clock;
  /** Retention of finished jobs; false: never delete them. */
  readonly retention: ResolvedRetention | false;
  /** Where a `queue:error` no listener handles goes; undefined: nowhere (`logger: false`). */
  readonly logger: Logger | undefined;
}

/** `retention` with every default filled in. */
export type ResolvedRetention = Readonly<z.output<typeof retentionSchema>>;

/** Parses `new Queue(options)`; a `ValidationError` lists every bad field. */
export function resolveQueueOptions(input: unknown): { options: ResolvedQueueOptions; storage: Storage | undefined } {
  const parsed = parseOrThrow(queueOptionsSchema, input ?? {}, "queue options");
  const options: ResolvedQueueOptions = {
    capacity: parsed.capacity ?? { cpu: availableParallelism() },
    concurrency: parsed.concurrency,
    prefetch: parsed.prefetch,
    leaseMs: parsed.leaseMs,
    heartbeatMs: parsed.heartbeatMs ?? Math.max(10, Math.floor(parsed.leaseMs / 3)),
    pollIntervalMs: parsed.pollIntervalMs,
    rescueIntervalMs: parsed.rescueIntervalMs ?? Math.max(10, Math.min(5_000, Math.floor(parsed.leaseMs / 2))),
    shutdownGraceMs: parsed.shutdownGraceMs,
    starvationMs: parsed.starvationMs,
    stuckGraceMs: parsed.stuckGraceMs,
    maxPayloadBytes: parsed.maxPayloadBytes,
    maxGraphNodes: parsed.maxGraphNodes,
    workerId: parsed.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    clock: parsed.clock ?? systemClock,
    retention: parsed.retention,
    logger: parsed.logger === false ? undefined : (parsed.logger ?? console),
  };
  return { options, storage: parsed.storage };
}

/** What a handler may set for its jobs (`defineHandler` minus `run` and `payload`). */
export const handlerOptionsSchema = z
  .object({
    payload: z.custom<PayloadSchema>(isStandardSchema, { message: "must be a Standard Schema (zod 4, zod 3.24+, valibot, arktype...)" }).optional(),
    priority: priority.default("normal"),
    retry: retrySchema.default({ maxAttempts: DEFAULT_MAX_ATTEMPTS, backoff: DEFAULT_BACKOFF }),
    timeoutMs: positiveMs.optional(),
    resources: resourcesSchema.default({}),
    deduplicate: z.literal("payload").optional(),
    run: z.custom<(...args: never[]) => unknown>((value) => typeof value === "function", { message: "must be a function" }),
  })
  .strict();

/**
 * The range of a job's dates: 1970-01-01 to 9999-12-31, midnight UTC both. PostgreSQL refuses year 0
 * and JS dates past year 9999 as text; postgres.js reads years below 100 back wrong (0001 as 2001)
 * and times before 1900 in a server's local mean time not at all; a day of margin keeps the last
 * year at 9999 in any server time zone. Both stores refuse the same dates.
 */
export const MIN_JOB_DATE = new Date("1970-01-01T00:00:00.000Z");
export const MAX_JOB_DATE = new Date("9999-12-31T00:00:00.000Z");
/** A date both stores can keep and compare: a valid `Date` from 1970-01-01 to 9999-12-31 (UTC). */
export const storableDate = z
  .date()
  .refine((d) => !Number.isNaN(d.getTime()), "must be a valid date")
  .refine((d) => Number.isNaN(d.getTime()) || (d >= MIN_JOB_DATE && d <= MAX_JOB_DATE), "must be from 1970-01-01 to 9999-12-31 (UTC)");

const jobId = z.uuid({ message: "must be a job id (UUID)" });

/** What a job may override of its handler's defaults, in `enqueue` options and in graph nodes alike. */
const jobOverrides = {
  priority: priority.optional(),
  idempotencyKey: z.string().min(1).max(255).refine(storableText, "must not contain U+0000 or a lone surrogate").optional(),
  runAt: storableDate.optional(),
  delayMs: z.number().int().nonnegative().max(2_147_483_647).optional(),
  maxAttempts: z.number().int().min(1).max(1_000).optional(),
  backoff: backoffSchema.optional(),
  timeoutMs: positiveMs.optional(),
  resources: resourcesSchema.optional(),
};

/** Enqueue options a schedule gives each job it enqueues: the per-job ones that make sense for every tick. */
export const scheduleJobOptionsSchema = z
  .object(jobOverrides)
  .pick({ priority: true, maxAttempts: true, backoff: true, timeoutMs: true, resources: true })
  .strict();

/** How a submission treats a live job that already holds an idempotency key, and the caller's transaction. */
const submissionOptions = {
  onDuplicate: z.enum(["reject", "return-existing"]).default("reject"),
  tx: z
    .custom<SqlTransaction>((value) => typeof value === "function" && typeof (value as { savepoint?: unknown }).savepoint === "function", {
      message: "must be a postgres.js transaction: the sql that sql.begin passes to its callback",
    })
    .optional(),
};

/** Options of one `enqueue` call. */
export const enqueueOptionsSchema = z
  .object({ ...jobOverrides, ...submissionOptions, dependsOn: z.array(jobId).max(10_000).optional() })
  .strict();
export type EnqueueOptions = z.input<typeof enqueueOptionsSchema>;

/** One node of `enqueueMany`: a job given a `key` that other nodes' `dependsOn` may name. */
export const graphNodeSchema = z
  .object({
    ...jobOverrides,
    key: z.string().min(1).max(200),
    type: z.string().min(1).max(200),
    payload: z.unknown().optional(),
    dependsOn: z.array(z.string().min(1).max(200)).max(10_000).optional(),
  })
  .strict();
export type GraphNodeInput = z.input<typeof graphNodeSchema>;

/** Options of one `enqueueMany` call. */
export const enqueueManyOptionsSchema = z.object(submissionOptions).strict();
export type EnqueueManyOptions = z.input<typeof enqueueManyOptionsSchema>;

/** A filter given as one value or a list of them (as over HTTP), always a list once parsed. */
export const oneOrMany = <T extends z.ZodType>(item: T, max: number) =>
  z.union([item.transform((value): z.output<T>[] => [value]), z.array(item).max(max)]);

/**
 * Job types a read or a redrive filters by: one or up to 100 names. An empty list is refused: it
 * would read as no filter, and a redrive of "none of the types" would retry every type.
 */
export const typeFilterSchema = oneOrMany(z.string().min(1).max(200).refine(storableText, "must not contain U+0000 or a lone surrogate"), 100).refine(
  (list) => list.length > 0,
  "name at least one type",
);

export const jobTypeSchema = z.string().min(1).max(200).regex(/^[A-Za-z0-9_.:\-/]+$/, "letters, digits and _ . : - / only");

/** Parses `input` with `schema`, turning zod's issues into a `ValidationError`. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.length > 0 ? issue.path.map(String).join(".") : what,
    message: issue.message,
  }));
  throw new ValidationError(`invalid ${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, issues, result.error);
}
