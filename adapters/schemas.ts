import { z } from "zod";
import { ATTEMPT_OUTCOMES, JOB_STATUSES, LOG_LEVELS, PRIORITIES } from "../src/index.js";

// Request and response shapes of the HTTP API. Requests are parsed here, at the edge; the queue then
// applies its own rules (payload schemas, capacity, graph checks). The OpenAPI document is made from these.

/** Most jobs one `POST /jobs/batch` may submit: a bound on work per request, below the queue's own. */
export const MAX_BATCH_JOBS = 1_000;

const int32 = z.number().int().max(2_147_483_647);
const isoDate = z.iso.datetime({ offset: true }).describe("ISO 8601 date-time, e.g. 2030-01-01T00:00:00Z");
const jobType = z.string().min(1).max(200).describe("the handler's type name");
/** A job id: any UUID text form, as the queue accepts it. */
export const jobIdSchema = z.guid().describe("job id (UUID)");

const backoff = z
  .object({ type: z.enum(["exponential", "fixed"]).optional(), baseMs: int32.nonnegative().optional(), maxMs: int32.nonnegative().optional(), jitter: z.boolean().optional() })
  .strict();
const resources = z.record(z.string().min(1).max(64), z.number().nonnegative()).describe("named units the job needs while it runs");

/** Options one job may set, in their JSON form (dates as ISO strings). */
const jobOptionFields = {
  priority: z.enum(PRIORITIES).optional(),
  idempotencyKey: z.string().min(1).max(255).optional(),
  runAt: isoDate.optional(),
  delayMs: int32.nonnegative().optional(),
  maxAttempts: z.number().int().min(1).max(1_000).optional(),
  backoff: backoff.optional(),
  timeoutMs: int32.positive().optional(),
  resources: resources.optional(),
};
const onDuplicate = z.enum(["reject", "return-existing"]).optional().describe('"reject" (409, the default) or "return-existing"');

/** `POST /jobs`. */
export const createJobBody = z
  .object({
    type: jobType,
    payload: z.unknown().optional().describe("the job's JSON input"),
    options: z
      .object({ ...jobOptionFields, dependsOn: z.array(jobIdSchema).max(MAX_BATCH_JOBS).optional(), onDuplicate })
      .strict()
      .optional(),
  })
  .strict();
export type CreateJobBody = z.output<typeof createJobBody>;

const graphNode = z
  .object({
    key: z.string().min(1).max(200).describe("names this job within the batch"),
    type: jobType,
    payload: z.unknown().optional(),
    dependsOn: z.array(z.string().min(1).max(200)).max(MAX_BATCH_JOBS).optional().describe("keys of this batch or ids of existing jobs"),
    ...jobOptionFields,
  })
  .strict();

/** `POST /jobs/batch`: a dependency graph, stored all or nothing. */
export const createBatchBody = z
  .object({ jobs: z.array(graphNode).min(1).max(MAX_BATCH_JOBS), onDuplicate })
  .strict();
export type CreateBatchBody = z.output<typeof createBatchBody>;

/** `?status=a,b&status=c`: a comma-separated or repeated query parameter, as a list. */
function listParameter<T extends z.ZodType>(item: T) {
  // Each item is checked by `item` after splitting; the cast joins the text list to it.
  const items = z.array(item).max(100) as unknown as z.ZodType<z.output<T>[], string[]>;
  return z
    .union([z.string(), z.array(z.string()).max(100)])
    .transform((value) => (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== ""))
    .pipe(items);
}

/** `GET /jobs`. */
export const listJobsQuery = z
  .object({
    status: listParameter(z.enum(JOB_STATUSES)).optional(),
    type: listParameter(z.string().min(1).max(200)).optional(),
    limit: z
      .string()
      .regex(/^\d{1,4}$/, "must be an integer from 1 to 1000")
      .transform(Number)
      .pipe(z.number().int().min(1).max(1_000))
      .optional(),
    cursor: z.string().min(1).max(200).optional(),
  })
  .strict();

/** `POST /jobs/retry`: the `retryMany` filter, dates as ISO strings; the queue checks the rest (e.g. the order of the dates). */
export const retryManyBody = z
  .object({
    status: z
      .union([z.enum(["failed", "cancelled"]), z.array(z.enum(["failed", "cancelled"])).min(1).max(2)])
      .optional()
      .describe('"failed" (the default), "cancelled", or both in a list'),
    type: z.union([jobType, z.array(jobType).min(1).max(100)]).optional().describe("one type or a list; default: every type"),
    finishedAfter: isoDate.optional().describe("jobs that finished at or after this time"),
    finishedBefore: isoDate.optional().describe("jobs that finished before this time"),
    limit: z.number().int().min(1).max(10_000).optional().describe("most jobs to retry (default 1,000)"),
  })
  .strict();
export type RetryManyBody = z.output<typeof retryManyBody>;

/** `/jobs/:id` and below. */
export const jobIdParams = z.object({ id: jobIdSchema }).strict();

/** Routes that take no query parameters still reject unknown ones. */
export const noQuery = z.object({}).strict();

/** What is kept of an error: never a stack trace. */
const errorJson = z.object({ name: z.string(), message: z.string(), code: z.string().optional() });
export type ErrorJson = z.infer<typeof errorJson>;

/** One attempt of a job: dates as ISO strings; what is not known yet (or not at all) is left out. */
export const attemptJson = z.object({
  attempt: z.number().int(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  outcome: z.enum(ATTEMPT_OUTCOMES).optional().describe("how the attempt ended: the settlement stored for it"),
  error: errorJson.optional(),
  workerId: z.string().optional(),
});
export type AttemptJson = z.infer<typeof attemptJson>;

/** A job as the API returns it: every field present, dates as ISO strings, absent values as null. */
export const jobJson = z.object({
  id: z.string(),
  type: z.string(),
  status: z.enum(JOB_STATUSES),
  priority: z.enum(PRIORITIES),
  payload: z.unknown(),
  result: z.unknown().describe("the handler's result once completed, else null"),
  error: errorJson.nullable(),
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  backoff: z.object({ type: z.enum(["exponential", "fixed"]), baseMs: z.number(), maxMs: z.number(), jitter: z.boolean() }),
  dependsOn: z.array(z.string()),
  idempotencyKey: z.string().nullable(),
  resources: z.record(z.string(), z.number()),
  timeoutMs: z.number().nullable(),
  runAt: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  attempts: z.array(attemptJson).describe("one entry per attempt started, oldest first"),
});
export type JobJson = z.infer<typeof jobJson>;

/** One line of a job's history. */
export const logEntryJson = z.object({
  seq: z.number().int(),
  at: z.string(),
  attempt: z.number().int(),
  kind: z.enum(["status", "log"]),
  level: z.enum(LOG_LEVELS).optional(),
  message: z.string(),
  data: z.unknown().optional(),
});
export type LogEntryJson = z.infer<typeof logEntryJson>;

/** Every error answer. */
export const errorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

export const jobResponse = z.object({ job: jobJson });
export const jobsResponse = z.object({ jobs: z.array(jobJson) });
export const jobPageResponse = z.object({ jobs: z.array(jobJson), nextCursor: z.string().nullable() });
export const retryManyResponse = z.object({ retried: z.number().int().describe("jobs retried; dependents revived with them are not counted") });
export const jobGraphResponse = z.object({
  jobs: z.array(jobJson).describe("the job first, then its ancestors, then its descendants, each nearest first"),
  edges: z.array(z.tuple([z.string(), z.string()])).describe("[dependent, dependency] between jobs of `jobs`"),
  truncated: z.boolean().describe("past 1,000 jobs or 4 MiB of their payload, result and error JSON: the nearest were kept"),
});
export const logsResponse = z.object({ logs: z.array(logEntryJson) });
export const healthResponse = z.object({
  status: z.enum(["ok", "unavailable"]),
  storage: z.enum(["ok", "unreachable"]),
  worker: z.enum(["running", "stopped"]),
});
export const metricsResponse = z.record(z.string(), z.unknown()).describe("queue.metrics(); Prometheus text with Accept: text/plain");

/** Messages a WebSocket client may send. */
export const statusClientMessage = z
  .object({ type: z.enum(["subscribe", "unsubscribe"]), jobIds: z.array(jobIdSchema).max(1_000).optional() })
  .strict();
export type StatusClientMessage = z.output<typeof statusClientMessage>;
