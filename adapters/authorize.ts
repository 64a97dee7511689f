import type { IncomingMessage } from "node:http";
import { failure, type HttpFailure } from "./http-errors.js";

/** What a request wants to do; `authorize` decides per action. */
export type AuthorizeAction =
  | "jobs:create"
  | "jobs:read"
  | "jobs:cancel"
  | "jobs:retry"
  | "metrics:read"
  | "health:read"
  | "openapi:read"
  | "status:subscribe"
  | "dashboard:read";

/** Every action, for hooks that switch on them. */
export const AUTHORIZE_ACTIONS: readonly AuthorizeAction[] = [
  "jobs:create",
  "jobs:read",
  "jobs:cancel",
  "jobs:retry",
  "metrics:read",
  "health:read",
  "openapi:read",
  "status:subscribe",
  "dashboard:read",
];

/** A refusal that says which status to answer: 401 (who are you?) or 403 (not you). */
export interface Refusal {
  readonly status: 401 | 403;
}

/**
 * Decides whether `request` may perform `action`. Only `true` allows; `false`, a refusal, any other
 * value or a throw refuses (fail closed).
 */
export type Authorize<Req> = (request: Req, action: AuthorizeAction) => boolean | Refusal | Promise<boolean | Refusal>;

/** Runs `authorize`; answers the failure to send, or undefined to go on. */
export async function checkAuthorization<Req>(
  authorize: Authorize<Req> | undefined,
  request: Req,
  action: AuthorizeAction,
  onError: (error: unknown) => void,
): Promise<HttpFailure | undefined> {
  if (authorize === undefined) return undefined;
  let verdict: unknown;
  try {
    verdict = await authorize(request, action);
  } catch (error) {
    onError(error);
    return failure(500, "INTERNAL", "internal error");
  }
  if (verdict === true) return undefined;
  if (typeof verdict === "object" && verdict !== null && (verdict as Refusal).status === 401) {
    return failure(401, "UNAUTHORIZED", "authentication required");
  }
  return failure(403, "FORBIDDEN", `not allowed: ${action}`);
}

/**
 * Browsers send cookies with cross-site WebSocket upgrades and apply no same-origin policy to them,
 * so an upgrade carrying an `Origin` must come from the same host or from `allowedOrigins`.
 * Clients that are not browsers send no `Origin` and pass.
 */
export function checkOrigin(request: IncomingMessage, allowedOrigins: readonly string[] | undefined): HttpFailure | undefined {
  const origin = request.headers.origin;
  if (origin === undefined || origin === "") return undefined;
  if (allowedOrigins?.includes(origin) === true) return undefined;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return failure(403, "FORBIDDEN", "origin not allowed");
  }
  return host === request.headers.host ? undefined : failure(403, "FORBIDDEN", "origin not allowed");
}
