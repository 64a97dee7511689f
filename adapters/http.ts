import { z } from "zod";
import type { Registry } from "prom-client";
import { JobNotFoundError, type Queue } from "../src/index.js";
import type { Authorize, AuthorizeAction } from "./authorize.js";
import { HttpError, INTERNAL_ERROR, toHttpFailure } from "./http-errors.js";
import { jobToJson, logEntryToJson } from "./job-json.js";
import { buildOpenApiDocument } from "./openapi.js";
import { PrometheusExporter } from "./prometheus.js";
import {
  createBatchBody,
  createJobBody,
  errorBody,
  healthResponse,
  jobIdParams,
  jobPageResponse,
  jobResponse,
  jobsResponse,
  listJobsQuery,
  logsResponse,
  metricsResponse,
  noQuery,
} from "./schemas.js";
import type { StatusStreamOptions } from "./status-stream.js";

export type { Authorize, AuthorizeAction, Refusal } from "./authorize.js";
export { AUTHORIZE_ACTIONS } from "./authorize.js";
export type { ErrorBody } from "./http-errors.js";
export type { StatusStreamOptions } from "./status-stream.js";

/** Options shared by the Express and Fastify adapters. `Req` is the framework's request type. */
export interface JobgraphHttpOptions<Req> {
  /** Called for every route and the WebSocket upgrade; only `true` lets the request through. Default: everything allowed. */
  readonly authorize?: Authorize<Req>;
  /** Job types that may be enqueued over HTTP; others answer 422. Default: any type. */
  readonly allowedTypes?: readonly string[];
  /** Largest request body, in bytes (default 1 MiB); larger ones answer 413. */
  readonly bodyLimitBytes?: number;
  /** The prom-client registry for `GET /metrics` in Prometheus text (default: a new one per adapter). */
  readonly registry?: Registry;
  readonly statusStream?: StatusStreamOptions;
  /** Told about every error answered as a generic 500 (the client never sees it). Default: console.error. */
  readonly onError?: (error: unknown) => void;
}

/** Options with their defaults, and what the routes share. */
export interface RouteContext {
  readonly queue: Queue;
  readonly allowedTypes: ReadonlySet<string> | undefined;
  readonly bodyLimitBytes: number;
  readonly prometheus: PrometheusExporter;
  readonly onError: (error: unknown) => void;
}

const optionsSchema = z
  .object({
    authorize: z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", "must be a function").optional(),
    allowedTypes: z.array(z.string().min(1)).optional(),
    bodyLimitBytes: z.number().int().positive().optional(),
    registry: z.custom<Registry>((v) => typeof v === "object" && v !== null && typeof (v as Registry).metrics === "function", "must be a prom-client Registry").optional(),
    statusStream: z
      .object({
        maxBufferedBytes: z.number().int().positive().optional(),
        pingIntervalMs: z.number().int().positive().max(2_147_483_647).optional(),
        maxJobIdsPerClient: z.number().int().positive().optional(),
        maxBadMessages: z.number().int().positive().optional(),
        allowedOrigins: z.array(z.string()).optional(),
        onClientDropped: z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", "must be a function").optional(),
      })
      .strict()
      .optional(),
    onError: z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", "must be a function").optional(),
  })
  .strict();

/**
 * Checks the options once, at mount. Unknown keys are an error: a misspelt `authorize` must not
 * leave the routes open.
 */
export function createRouteContext(queue: Queue, options: object): RouteContext {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw new TypeError(`invalid jobgraph adapter options: ${parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`).join("; ")}`);
  const typed = options as JobgraphHttpOptions<unknown>;
  return {
    queue,
    allowedTypes: typed.allowedTypes === undefined ? undefined : new Set(typed.allowedTypes),
    bodyLimitBytes: typed.bodyLimitBytes ?? 1024 * 1024,
    prometheus: new PrometheusExporter(queue, typed.registry),
    onError: typed.onError ?? ((error) => console.error("jobgraph: internal error answered as 500", error)),
  };
}

/** A request as the frameworks hand it over, before validation. */
export interface RawInput {
  readonly params: unknown;
  readonly query: unknown;
  readonly body: unknown;
  readonly hasBody: boolean;
  readonly contentType: string | undefined;
  readonly accept: string | undefined;
  /** Where the routes are mounted (`/api`), for the OpenAPI document. */
  readonly basePath: string;
}

/** What to answer: JSON unless `contentType` says otherwise (then `body` is text). */
export interface HttpResponse {
  readonly status: number;
  readonly body: unknown;
  readonly contentType?: string;
}

interface ParsedInput<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly accept: string | undefined;
  readonly basePath: string;
}

/** One route: everything a framework needs to mount it, and the OpenAPI document to describe it. */
export interface Route {
  readonly method: "GET" | "POST";
  /** In `:param` form, relative to the mount prefix. */
  readonly path: string;
  readonly action: AuthorizeAction;
  readonly summary: string;
  readonly params: z.ZodType | undefined;
  readonly query: z.ZodType;
  /** Undefined: the route ignores any body. */
  readonly body: z.ZodType | undefined;
  readonly responses: Readonly<Record<number, { readonly description: string; readonly schema?: z.ZodType }>>;
  /** Validates the input and answers; never throws. */
  run(context: RouteContext, input: RawInput): Promise<HttpResponse>;
}

function defineRoute<P extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = typeof noQuery, B extends z.ZodType = z.ZodUndefined>(route: {
  method: Route["method"];
  path: string;
  action: AuthorizeAction;
  summary: string;
  params?: P;
  query?: Q;
  body?: B;
  responses: Route["responses"];
  handle(context: RouteContext, input: ParsedInput<z.output<P>, z.output<Q>, z.output<B>>): Promise<HttpResponse>;
}): Route {
  const query = route.query ?? noQuery;
  return {
    method: route.method,
    path: route.path,
    action: route.action,
    summary: route.summary,
    params: route.params,
    query,
    body: route.body,
    responses: { ...route.responses, 500: { description: "internal error (no details)", schema: errorBody } },
    async run(context, input) {
      try {
        if (route.body !== undefined && input.hasBody && !isJson(input.contentType)) {
          throw new HttpError(415, "UNSUPPORTED_MEDIA_TYPE", "send the request body as application/json");
        }
        const parsed = {
          params: (route.params === undefined ? undefined : parse(route.params, input.params, "path")) as z.output<P>,
          query: parse(query, input.query ?? {}, "query") as z.output<Q>,
          body: (route.body === undefined ? undefined : parse(route.body, input.body, "body")) as z.output<B>,
          accept: input.accept,
          basePath: input.basePath,
        };
        return await route.handle(context, parsed);
      } catch (error) {
        const known = toHttpFailure(error);
        if (known !== undefined) return known;
        context.onError(error);
        return INTERNAL_ERROR;
      }
    },
  };
}

function parse(schema: z.ZodType, value: unknown, where: string): unknown {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: [where, ...issue.path.map(String)].join("."), message: issue.message }));
  throw new HttpError(400, "VALIDATION", `invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, { issues });
}

function isJson(contentType: string | undefined): boolean {
  const type = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

function checkType(context: RouteContext, type: string): void {
  if (context.allowedTypes !== undefined && !context.allowedTypes.has(type)) {
    throw new HttpError(422, "UNKNOWN_JOB_TYPE", `job type ${JSON.stringify(type)} is not accepted here`, { type });
  }
}

const date = (iso: string | undefined) => (iso === undefined ? {} : { runAt: new Date(iso) });
const json = (status: number, body: unknown): HttpResponse => ({ status, body });
const HEALTH_PROBE_TIMEOUT_MS = 5_000;

/** Every route, in the order they are mounted. Handlers call only the queue's public API. */
export const routes: readonly Route[] = [
  defineRoute({
    method: "POST",
    path: "/jobs",
    action: "jobs:create",
    summary: "Enqueue one job",
    body: createJobBody,
    responses: {
      201: { description: "the stored job (or the live one holding its key, with onDuplicate: return-existing)", schema: jobResponse },
      400: { description: "invalid body, options or payload; unknown dependency", schema: errorBody },
      409: { description: "a live job holds the idempotency key: details.existingJobId", schema: errorBody },
      413: { description: "body too large", schema: errorBody },
      422: { description: "job type not allowed", schema: errorBody },
    },
    async handle(context, { body }) {
      checkType(context, body.type);
      const { runAt, ...options } = body.options ?? {};
      const job = await context.queue.enqueue(body.type, body.payload, { ...options, ...date(runAt) });
      return json(201, { job: jobToJson(job) });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/jobs/batch",
    action: "jobs:create",
    summary: "Enqueue a dependency graph of jobs, all or nothing",
    body: createBatchBody,
    responses: {
      201: { description: "the stored jobs, in input order", schema: jobsResponse },
      400: { description: "invalid graph: details.cycle on a cycle, details.issues on fields", schema: errorBody },
      409: { description: "a live job holds an idempotency key", schema: errorBody },
      413: { description: "body too large", schema: errorBody },
      422: { description: "job type not allowed", schema: errorBody },
    },
    async handle(context, { body }) {
      for (const node of body.jobs) checkType(context, node.type);
      const nodes = body.jobs.map(({ runAt, ...node }) => ({ ...node, ...date(runAt) }));
      const jobs = await context.queue.enqueueMany(nodes, body.onDuplicate === undefined ? {} : { onDuplicate: body.onDuplicate });
      return json(201, { jobs: jobs.map(jobToJson) });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/jobs",
    action: "jobs:read",
    summary: "List jobs, newest first, filtered by status and type, a page at a time",
    query: listJobsQuery,
    responses: { 200: { description: "one page; pass nextCursor as cursor for the next", schema: jobPageResponse }, 400: { description: "invalid query", schema: errorBody } },
    async handle(context, { query }) {
      const page = await context.queue.listJobs({
        ...(query.status === undefined ? {} : { status: query.status }),
        ...(query.type === undefined ? {} : { type: query.type }),
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      });
      return json(200, { jobs: page.jobs.map(jobToJson), nextCursor: page.nextCursor ?? null });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/jobs/:id",
    action: "jobs:read",
    summary: "Get one job",
    params: jobIdParams,
    responses: { 200: { description: "the job", schema: jobResponse }, 400: { description: "invalid id", schema: errorBody }, 404: { description: "no such job", schema: errorBody } },
    async handle(context, { params }) {
      const job = await context.queue.getJob(params.id);
      if (job === undefined) throw new JobNotFoundError(params.id);
      return json(200, { job: jobToJson(job) });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/jobs/:id/logs",
    action: "jobs:read",
    summary: "A job's history: status changes and handler log lines, in order",
    params: jobIdParams,
    responses: { 200: { description: "the history", schema: logsResponse }, 400: { description: "invalid id", schema: errorBody }, 404: { description: "no such job", schema: errorBody } },
    async handle(context, { params }) {
      const logs = await context.queue.getJobLogs(params.id);
      return json(200, { logs: logs.map(logEntryToJson) });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/jobs/:id/cancel",
    action: "jobs:cancel",
    summary: "Cancel a job: blocked or pending at once (with its dependents), running through its signal",
    params: jobIdParams,
    responses: { 200: { description: "the job after the request", schema: jobResponse }, 400: { description: "invalid id", schema: errorBody }, 404: { description: "no such job", schema: errorBody }, 409: { description: "status does not allow it", schema: errorBody } },
    async handle(context, { params }) {
      return json(200, { job: jobToJson(await context.queue.cancel(params.id)) });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/jobs/:id/retry",
    action: "jobs:retry",
    summary: "Run a failed or cancelled job again",
    params: jobIdParams,
    responses: { 200: { description: "the job, pending again", schema: jobResponse }, 400: { description: "invalid id", schema: errorBody }, 404: { description: "no such job", schema: errorBody }, 409: { description: "the job is neither failed nor cancelled", schema: errorBody } },
    async handle(context, { params }) {
      return json(200, { job: jobToJson(await context.queue.retry(params.id)) });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/metrics",
    action: "metrics:read",
    summary: "Queue metrics as JSON, or Prometheus text with Accept: text/plain",
    responses: { 200: { description: "queue.metrics()", schema: metricsResponse } },
    async handle(context, { accept }) {
      if (accept !== undefined && /\b(text\/plain|application\/openmetrics-text)\b/i.test(accept)) {
        const { contentType, text } = await context.prometheus.render();
        return { status: 200, body: text, contentType };
      }
      return json(200, await context.queue.metrics());
    },
  }),
  defineRoute({
    method: "GET",
    path: "/health",
    action: "health:read",
    summary: "Whether the store answers, and whether this process runs jobs",
    responses: { 200: { description: "healthy", schema: healthResponse }, 503: { description: "the store does not answer", schema: healthResponse } },
    async handle(context) {
      const worker = context.queue.isRunning ? "running" : "stopped";
      const reachable = await probeStorage(context.queue);
      return reachable ? json(200, { status: "ok", storage: "ok", worker }) : json(503, { status: "unavailable", storage: "unreachable", worker });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/openapi.json",
    action: "openapi:read",
    summary: "This document",
    responses: { 200: { description: "OpenAPI 3.1" } },
    async handle(_context, { basePath }) {
      return json(200, buildOpenApiDocument(routes, basePath));
    },
  }),
];

/** Reads one job, bounded in time, so a hung database answers 503 rather than hanging the probe. */
async function probeStorage(queue: Queue): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), HEALTH_PROBE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([queue.listJobs({ limit: 1 }).then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

