import pTimeout from "p-timeout";
import { JobNotFoundError, type Queue } from "../src/index.js";
import { HttpError } from "./http-errors.js";
import { jobToJson, logEntryToJson } from "./job-json.js";
import { buildOpenApiDocument } from "./openapi.js";
import type { AuthorizeAction } from "./authorize.js";
import { defineRoute, type HttpResponse, type Route } from "./route.js";
import type { RouteContext } from "./route-context.js";
import {
  createBatchBody,
  createJobBody,
  errorBody,
  healthResponse,
  jobGraphResponse,
  jobIdParams,
  jobPageResponse,
  jobResponse,
  jobsResponse,
  listJobsQuery,
  logsResponse,
  metricsResponse,
  retryManyBody,
  retryManyResponse,
} from "./schemas.js";

// The route table: one entry per route, shared by the Express and Fastify adapters.

export type { Authorize, AuthorizeAction, Refusal } from "./authorize.js";
export { AUTHORIZE_ACTIONS } from "./authorize.js";
export type { ErrorBody } from "./http-errors.js";
export type { StatusStreamOptions } from "./status-stream.js";
export { createRouteContext, type JobgraphHttpOptions, type RouteContext } from "./route-context.js";
export type { HttpResponse, RawInput, Route } from "./route.js";

function checkType(context: RouteContext, type: string): void {
  if (context.allowedTypes !== undefined && !context.allowedTypes.has(type)) {
    throw new HttpError(422, "UNKNOWN_JOB_TYPE", `job type ${JSON.stringify(type)} is not accepted here`, { type });
  }
}

/** `{ [key]: Date }` from an ISO string, or nothing when absent. */
const dateField = <K extends string>(key: K, iso: string | undefined) => (iso === undefined ? {} : ({ [key]: new Date(iso) } as Record<K, Date>));
const date = (iso: string | undefined) => dateField("runAt", iso);
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
    method: "POST",
    path: "/jobs/retry",
    action: "jobs:retry",
    summary: "Redrive: retry failed (or cancelled) jobs in bulk, oldest first, skipping those that cannot be retried",
    body: retryManyBody,
    responses: {
      200: { description: "how many jobs were retried", schema: retryManyResponse },
      400: { description: "invalid filter", schema: errorBody },
      413: { description: "body too large", schema: errorBody },
    },
    async handle(context, { body }) {
      const { finishedAfter, finishedBefore, ...filter } = body;
      const retried = await context.queue.retryMany({ ...filter, ...dateField("finishedAfter", finishedAfter), ...dateField("finishedBefore", finishedBefore) });
      return json(200, { retried });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/jobs",
    action: "jobs:read",
    summary: "List jobs, newest first, filtered by status and type, a page at a time",
    query: listJobsQuery,
    responses: {
      200: { description: "one page: at most `limit` jobs and, past the first, 4 MiB of their payload, result and error JSON; pass nextCursor as cursor for the next", schema: jobPageResponse },
      400: { description: "invalid query", schema: errorBody },
    },
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
    method: "GET",
    path: "/jobs/:id/graph",
    action: "jobs:read",
    summary: "A job's connected graph: its ancestors and descendants, transitively, at most 1,000 jobs and 4 MiB",
    params: jobIdParams,
    responses: { 200: { description: "the graph", schema: jobGraphResponse }, 400: { description: "invalid id", schema: errorBody }, 404: { description: "no such job", schema: errorBody } },
    async handle(context, { params }) {
      const graph = await context.queue.getJobGraph(params.id);
      return json(200, { jobs: graph.jobs.map(jobToJson), edges: graph.edges.map(([dependent, dependency]) => [dependent, dependency]), truncated: graph.truncated });
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
        const { contentType, text } = await (await context.prometheus()).render();
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

/** What an OPTIONS request on a route path answers (`allow`), and the action it is authorized for. */
export interface PathOptions {
  readonly path: string;
  readonly action: AuthorizeAction;
  readonly allow: string;
}

/**
 * Each route path once. OPTIONS tells which methods a path has: it is authorized like reading the
 * path where the path can be read, else like its one route. A CORS layer the application puts in
 * front (cors before the router, @fastify/cors's onRequest hook) answers preflights before this runs.
 */
export const pathOptions: readonly PathOptions[] = [...new Set(routes.map((route) => route.path))].map((path) => {
  const here = routes.filter((route) => route.path === path);
  const read = here.find((route) => route.method === "GET");
  const methods = here.map((route) => route.method).flatMap((method) => (method === "GET" ? ["GET", "HEAD"] : [method]));
  return { path, action: (read ?? (here[0] as Route)).action, allow: [...new Set([...methods, "OPTIONS"])].join(", ") };
});

/** Reads one job, bounded in time, so a hung database answers 503 rather than hanging the probe. */
async function probeStorage(queue: Queue): Promise<boolean> {
  const read = queue.listJobs({ limit: 1 }).then(() => true, () => false);
  return pTimeout(read, { milliseconds: HEALTH_PROBE_TIMEOUT_MS, fallback: () => false });
}

