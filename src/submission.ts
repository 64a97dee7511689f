import { planGraph } from "./dag.js";
import { ValidationError } from "./errors.js";
import type { RegisteredHandler } from "./handler.js";
import { payloadKey, toJsonValue } from "./json-value.js";
import { validatePayload } from "./payload-schema.js";
import type { JobId, Json, NewJob, Resources, ScheduleJobOptions } from "./types.js";
import { fits } from "./resources.js";
import { DEFAULT_BACKOFF, DEFAULT_MAX_ATTEMPTS } from "./retry.js";
import { newJobId } from "./job-id.js";

/** One job as the caller described it, options parsed: a schedule's per-job options, and those of one job. */
export interface JobRequest extends ScheduleJobOptions {
  readonly key: string;
  readonly type: string;
  readonly payload: unknown;
  readonly dependsOn: readonly string[];
  readonly idempotencyKey?: string | undefined;
  readonly runAt?: Date | undefined;
  readonly delayMs?: number | undefined;
}

/** What the submission is checked against. */
export interface SubmissionContext {
  readonly handlers: ReadonlyMap<string, RegisteredHandler>;
  readonly capacity: Resources;
  readonly maxPayloadBytes: number;
  readonly maxGraphNodes: number;
  readonly now: number;
}

/** Jobs ready to insert, in topological order, and for each input position its job's index among them. */
export interface Submission {
  readonly jobs: readonly NewJob[];
  readonly positions: readonly number[];
}

/**
 * Turns requests into `NewJob`s: validates the graph (cycles, unknown references), every payload
 * (JSON, and the handler's schema when this process has the handler), fills in the handler's
 * defaults and the idempotency key, and rejects a job needing more than this worker's capacity
 * when the handler is local. Throws before anything is stored.
 */
export async function buildSubmission(requests: readonly JobRequest[], context: SubmissionContext): Promise<Submission> {
  const plan = planGraph(requests, { maxNodes: context.maxGraphNodes });
  const ids: JobId[] = requests.map(() => newJobId());
  const jobs: NewJob[] = [];
  const positions: number[] = new Array<number>(requests.length);
  for (const index of plan.order) {
    const request = requests[index] as JobRequest;
    // In the order given: the first listed is blamed among equally near causes of a cancel.
    const dependsOn = (plan.references[index] ?? []).map((ref) => (typeof ref === "number" ? (ids[ref] as JobId) : ref));
    positions[index] = jobs.length;
    const at = requests.length > 1 ? `[${index}].` : "";
    const handler = context.handlers.get(request.type);
    const payload = toJsonValue(request.payload, `${at}payload`, context.maxPayloadBytes);
    // The payload is stored as sent, not as the schema's output: a job enqueued by a process without
    // the handler is stored unvalidated, and every run validates again, so the stored payload is the
    // schema's input in every case (a transform's output need not be JSON nor pass the schema again).
    // Without a schema there is nothing to wait for: no promise per job of a large batch.
    if (handler?.payload !== undefined) await validatePayload(handler.payload, payload, request.type, `${at}payload`);
    jobs.push(newJob(request, ids[index] as JobId, payload, dependsOn, handler, context, at));
  }
  assertDistinctKeys(requests, (index) => jobs[positions[index] as number] as NewJob);
  return { jobs, positions };
}

/**
 * Two jobs of one batch with the same idempotency key (given, or the payload hash) cannot both be
 * stored, and neither is stored before the other: the batch is invalid, whatever `onDuplicate` says.
 */
function assertDistinctKeys(requests: readonly JobRequest[], jobAt: (index: number) => NewJob): void {
  const byKey = new Map<string, number[]>();
  requests.forEach((_, index) => {
    const key = jobAt(index).idempotencyKey;
    if (key === undefined) return;
    const indices = byKey.get(key);
    if (indices === undefined) byKey.set(key, [index]);
    else indices.push(index);
  });
  const repeated = [...byKey].filter(([, indices]) => indices.length > 1);
  if (repeated.length === 0) return;
  const named = repeated.map(([key, indices]) => `${JSON.stringify(key)} (jobs ${indices.map((i) => JSON.stringify(requests[i]?.key)).join(", ")})`);
  throw new ValidationError(
    `jobs of one batch share an idempotency key: ${named.join("; ")}`,
    repeated.flatMap(([key, indices]) =>
      indices.slice(1).map((i) => ({ path: `[${i}].idempotencyKey`, message: `idempotency key ${JSON.stringify(key)} is also used by [${indices[0]}] of this batch` })),
    ),
  );
}

/** What a job with no resources of its own or its handler's needs: one object for all (stores copy what they keep). */
const NO_RESOURCES: Resources = Object.freeze({});

/** The job `request` describes, its payload (`payload`, checked) and its handler's defaults filled in; checks its resources. */
function newJob(
  request: JobRequest, id: JobId, payload: Json, dependsOn: readonly JobId[], handler: RegisteredHandler | undefined, context: SubmissionContext, at: string,
): NewJob {
  const resources = request.resources ?? handler?.resources ?? NO_RESOURCES;
  if (handler !== undefined && !fits(resources, context.capacity)) {
    throw new ValidationError(`${request.type} needs ${JSON.stringify(resources)}, more than this worker's capacity ${JSON.stringify(context.capacity)}`, [
      { path: `${at}resources`, message: "exceeds capacity" },
    ]);
  }
  const idempotencyKey = request.idempotencyKey ?? (handler?.deduplicate === "payload" ? payloadKey(request.type, payload) : undefined);
  return {
    id,
    type: request.type,
    priority: request.priority ?? handler?.priority ?? "normal",
    payload,
    maxAttempts: request.maxAttempts ?? handler?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    backoff: request.backoff ?? handler?.backoff ?? DEFAULT_BACKOFF,
    dependsOn,
    idempotencyKey,
    resources,
    timeoutMs: request.timeoutMs ?? handler?.timeoutMs,
    runAt: request.runAt ?? new Date(context.now + (request.delayMs ?? 0)),
  };
}
