import { QueueError, type QueueErrorCode } from "../src/index.js";

/** Codes the adapters answer with besides the queue's own. */
export type HttpErrorCode =
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "MALFORMED_JSON"
  | "BAD_REQUEST"
  | "NOT_FOUND"
  | "INTERNAL";

/** The body of every error answer. */
export interface ErrorBody {
  readonly error: { readonly code: QueueErrorCode | HttpErrorCode; readonly message: string; readonly details?: unknown };
}

/** A status and an error body. */
export interface HttpFailure {
  readonly status: number;
  readonly body: ErrorBody;
}

/** An error the adapter itself raises, with the status to answer. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: QueueErrorCode | HttpErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

const STATUS_BY_CODE: Partial<Record<QueueErrorCode, number>> = {
  VALIDATION: 400,
  DEPENDENCY_CYCLE: 400,
  UNKNOWN_DEPENDENCY: 400,
  DUPLICATE_JOB: 409,
  JOB_NOT_FOUND: 404,
  INVALID_STATE: 409,
  UNKNOWN_JOB_TYPE: 422,
  QUEUE_CLOSED: 503,
  // The database is there but not migrated: an operator's step, not the client's mistake.
  SCHEMA_NOT_MIGRATED: 503,
  // The server lacks an optional package (prom-client for Prometheus text); the message names it.
  PEER_DEPENDENCY_MISSING: 501,
};

/** The one generic answer for everything unexpected: its cause goes to `onError`, never to the client. */
export const INTERNAL_ERROR: HttpFailure = { status: 500, body: { error: { code: "INTERNAL", message: "internal error" } } };

/**
 * Maps a thrown value to an answer. Only errors whose message the queue writes for callers (and
 * whose `details` hold ids, paths and field issues) pass through; storage, driver and programming
 * errors become a generic 500, so no stack or database text ever reaches a client.
 */
export function toHttpFailure(error: unknown): HttpFailure | undefined {
  if (error instanceof HttpError) return failure(error.status, error.code, error.message, error.details);
  if (error instanceof QueueError) {
    const code = error.code as QueueErrorCode;
    const status = STATUS_BY_CODE[code];
    if (status === undefined) return undefined;
    // A closed store may say more than a client needs; the code says enough.
    const message = code === "QUEUE_CLOSED" ? "the queue is shut down" : error.message;
    return failure(status, code, message, error.details);
  }
  return undefined;
}

/** An error body with `details` only when there are some. */
export function failure(status: number, code: QueueErrorCode | HttpErrorCode, message: string, details?: unknown): HttpFailure {
  return { status, body: { error: details === undefined ? { code, message } : { code, message, details } } };
}

/** Answers for errors the frameworks raise before a route runs (body parsing, limits), by HTTP status. */
export function frameworkFailure(status: number | undefined, bodyLimitBytes: number): HttpFailure | undefined {
  switch (status) {
    case 400:
      return failure(400, "MALFORMED_JSON", "the request body is not valid JSON");
    case 413:
      return failure(413, "PAYLOAD_TOO_LARGE", `the request body is larger than ${bodyLimitBytes} bytes`);
    case 415:
      return failure(415, "UNSUPPORTED_MEDIA_TYPE", "send the request body as application/json");
    default:
      return status !== undefined && status >= 400 && status < 500 ? failure(status, "BAD_REQUEST", "bad request") : undefined;
  }
}
