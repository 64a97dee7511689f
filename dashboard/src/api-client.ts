// The dashboard's only way to the queue: the public HTTP routes of the adapter that serves it.

import type { z } from "zod";
import type { AttemptJson, ErrorJson, jobGraphResponse, JobJson, LogEntryJson } from "../../adapters/schemas.js";
import type { QueueMetrics } from "../../src/index.js";

// The wire types are the adapters' own (type-only: nothing of the server reaches the bundle), so a
// change to a route's answer breaks the dashboard's type check, not the page.
export type { AttemptJson, JobJson, LogEntryJson };
export type JobError = ErrorJson;

export const JOB_STATUSES = ["blocked", "pending", "running", "completed", "failed", "cancelled"] as const;
export type JobStatus = JobJson["status"];

/** `GET /jobs/:id/graph`: the jobs, `[dependent, dependency]` edges, and whether it was cut short. */
export type JobGraphJson = z.infer<typeof jobGraphResponse>;

/** `GET /metrics` as JSON: `queue.metrics()`, all numbers. */
export type MetricsJson = QueueMetrics;

export interface JobFilter {
  readonly status?: JobStatus | undefined;
  readonly type?: string | undefined;
  readonly cursor?: string | undefined;
  readonly limit?: number;
}

export interface RetryManyRequest {
  readonly status: readonly ("failed" | "cancelled")[];
  readonly type: readonly string[];
  readonly finishedAfter?: string;
  readonly finishedBefore?: string;
  readonly limit?: number;
}

/** An answer other than 2xx, with the API's error code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Where the API is: the page is at `<prefix>/ui/`, the routes at `<prefix>/`. */
export function apiBase(pathname: string = location.pathname): string {
  return pathname.replace(/\/ui(\/.*)?$/, "");
}

async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) }, credentials: "same-origin" };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(`${apiBase()}${path}`, init);
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(response.status, error?.code ?? "HTTP_ERROR", error?.message ?? `${method} ${path}: HTTP ${response.status}`);
  }
  return parsed as T;
}

const id = (value: string) => encodeURIComponent(value);

export const api = {
  listJobs(filter: JobFilter): Promise<{ jobs: JobJson[]; nextCursor: string | null }> {
    const query = new URLSearchParams();
    if (filter.status !== undefined) query.set("status", filter.status);
    if (filter.type !== undefined && filter.type !== "") query.set("type", filter.type);
    if (filter.cursor !== undefined) query.set("cursor", filter.cursor);
    query.set("limit", String(filter.limit ?? 50));
    return call("GET", `/jobs?${query.toString()}`);
  },
  getJob: async (jobId: string): Promise<JobJson> => (await call<{ job: JobJson }>("GET", `/jobs/${id(jobId)}`)).job,
  getLogs: async (jobId: string): Promise<LogEntryJson[]> => (await call<{ logs: LogEntryJson[] }>("GET", `/jobs/${id(jobId)}/logs`)).logs,
  getGraph: (jobId: string): Promise<JobGraphJson> => call("GET", `/jobs/${id(jobId)}/graph`),
  cancel: async (jobId: string): Promise<JobJson> => (await call<{ job: JobJson }>("POST", `/jobs/${id(jobId)}/cancel`)).job,
  retry: async (jobId: string): Promise<JobJson> => (await call<{ job: JobJson }>("POST", `/jobs/${id(jobId)}/retry`)).job,
  retryMany: (request: RetryManyRequest): Promise<{ retried: number }> => call("POST", "/jobs/retry", request),
  metrics: (): Promise<MetricsJson> => call("GET", "/metrics"),
};
