import { STATUS_CODES, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import type * as Ws from "ws";
import type { Queue } from "../src/index.js";
import { checkAuthorization, checkOrigin, type Authorize, type AuthorizeAction } from "./authorize.js";
import { createRouteContext, pathOptions, routes, type HttpResponse, type JobgraphHttpOptions } from "./http.js";
import { refusePrototypeKeys } from "./json-body.js";
import { DASHBOARD_SECURITY_HEADERS, staticRequest } from "./dashboard-assets.js";
import { failure, frameworkFailure, INTERNAL_ERROR, toHttpFailure, type HttpFailure } from "./http-errors.js";
import { requirePeer } from "./peer.js";
import { MAX_CLIENT_MESSAGE_BYTES, StatusStream, type StatusStreamOptions } from "./status-stream.js";

export type { Authorize, AuthorizeAction, ErrorBody, JobgraphHttpOptions, Refusal, StatusStreamOptions } from "./http.js";
export { AUTHORIZE_ACTIONS } from "./http.js";

/** Options of `jobgraphRouter`. */
export type JobgraphRouterOptions = Omit<JobgraphHttpOptions<Request>, "statusStream">;

/**
 * The jobgraph routes as an Express router: `app.use("/api", jobgraphRouter(queue, options))`.
 * It parses its own JSON bodies and answers every error with `{ error: { code, message } }`.
 */
export function jobgraphRouter(queue: Queue, options: JobgraphRouterOptions = {}): Router {
  const context = createRouteContext(queue, options);
  const router = express.Router();
  const readJson = express.json({ limit: context.bodyLimitBytes, strict: false, type: ["application/json", "application/*+json"] });
  const checkJson = (req: Request, _res: Response, next: NextFunction) => {
    try {
      refusePrototypeKeys(req.body);
    } catch (error) {
      return next(error);
    }
    next();
  };
  const authorizeFor = (action: AuthorizeAction) => async (req: Request, res: Response, next: NextFunction) => {
    const refusal = await checkAuthorization(options.authorize, req, action, context.onError);
    if (refusal === undefined) next();
    else send(res, refusal);
  };
  for (const route of routes) {
    const handlers = [
      authorizeFor(route.action),
      ...(route.body === undefined ? [] : [readJson, checkJson]),
      async (req: Request, res: Response) => {
        const result = await route.run(context, {
          params: req.params,
          query: req.query,
          body: req.body as unknown,
          hasBody: hasBody(req),
          contentType: req.headers["content-type"],
          accept: req.headers.accept,
          basePath: mountPath(req.baseUrl),
        });
        send(res, result);
      },
    ];
    if (route.method === "GET") router.get(route.path, ...handlers);
    else router.post(route.path, ...handlers);
  }
  const dashboard = context.dashboard;
  if (dashboard !== undefined) {
    const securePage = (_req: Request, res: Response, next: NextFunction) => void (res.set(DASHBOARD_SECURITY_HEADERS), next());
    const serve = (req: Request, res: Response) => {
      const answer = dashboard.answer(staticRequest(req.url, "/ui".length, req.method, req.headers), `${mountPath(req.baseUrl)}/ui`);
      res.status(answer.status).set(answer.headers).end(answer.body);
    };
    router.get(["/ui", "/ui/*splat"], securePage, authorizeFor("dashboard:read"), serve);
    router.options(["/ui", "/ui/*splat"], securePage, authorizeFor("dashboard:read"), serve);
  }
  for (const { path, action, allow } of pathOptions) router.options(path, authorizeFor(action), (_req: Request, res: Response) => void res.set("Allow", allow).status(204).end());
  // Body parser errors (malformed JSON, too large) and anything unexpected: never Express's HTML page.
  router.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    // A path that does not percent-decode ("/jobs/%zz") fails in the router, before any body is read.
    // Under /ui it is still a dashboard answer, with the dashboard's headers.
    if (error instanceof URIError) {
      if (/^\/ui(\/|$)/.test(req.path)) res.set(DASHBOARD_SECURITY_HEADERS);
      return send(res, failure(400, "BAD_REQUEST", "the request URL is malformed"));
    }
    // A refused body (prototype keys) says why.
    const refused = toHttpFailure(error);
    if (refused !== undefined) return send(res, refused);
    const status = (error as { status?: unknown }).status;
    const known = frameworkFailure(typeof status === "number" ? status : undefined, context.bodyLimitBytes);
    if (known === undefined) context.onError(error);
    send(res, known ?? INTERNAL_ERROR);
  });
  return router;
}

/** The mount path without a trailing slash (`app.use("/a/b/", router)` -> `/a/b`; `/` -> ``). */
function mountPath(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, "");
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0");
}

function send(res: Response, result: HttpResponse | HttpFailure): void {
  res.status(result.status);
  if ("contentType" in result && result.contentType !== undefined) res.type(result.contentType).send(result.body);
  else res.json(result.body);
}

/** Options of `attachStatusSocket`. */
export interface StatusSocketOptions {
  /** Where the router is mounted; the socket listens at `<prefix>/ws` (default "": `/ws`). */
  readonly prefix?: string;
  /** Called on every upgrade with the action "status:subscribe"; only `true` lets it through. */
  readonly authorize?: Authorize<IncomingMessage>;
  readonly statusStream?: StatusStreamOptions;
  /** Told about errors thrown by `authorize`. Default: console.error. */
  readonly onError?: (error: unknown) => void;
}

const STATUS_SOCKET_KEYS = new Set(["prefix", "authorize", "statusStream", "onError"]);

/** The live status socket; `close()` closes its clients (1001) and stops listening for upgrades. */
export interface StatusSocket {
  readonly clientCount: number;
  close(): void;
}

/**
 * Serves the status stream on `server` at `<prefix>/ws`: a `ws` server in `noServer` mode on the
 * HTTP server's `upgrade` event. A refused upgrade answers 401/403 on that socket and closes only it.
 * Needs the `ws` package; without it, throws a `PeerDependencyMissingError` (the routes need no `ws`).
 */
export function attachStatusSocket(server: Server, queue: Queue, options: StatusSocketOptions = {}): StatusSocket {
  const unknown = Object.keys(options).filter((key) => !STATUS_SOCKET_KEYS.has(key));
  // A misspelt `authorize` must not leave the socket open.
  if (unknown.length > 0) throw new TypeError(`invalid attachStatusSocket options: unknown ${unknown.join(", ")}`);
  const { WebSocketServer } = requirePeer<typeof Ws>("ws", "the status socket");
  const path = `${options.prefix ?? ""}/ws`;
  const onError = options.onError ?? ((error: unknown) => console.error("jobgraph: authorize threw on a WebSocket upgrade", error));
  const stream = new StatusStream(queue, options.statusStream);
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES });
  const prefix = options.prefix ?? "";
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const requested = pathname(req.url);
    if (requested !== path) {
      if (answersUnserved(server, prefix, requested, socket)) refuseUpgrade(socket, UPGRADE_NOT_FOUND);
      return;
    }
    socket.on("error", () => socket.destroy());
    void (async () => {
      const refusal = checkOrigin(req, options.statusStream?.allowedOrigins) ?? (await checkAuthorization(options.authorize, req, "status:subscribe", onError));
      if (socket.destroyed) return;
      if (refusal !== undefined) return refuseUpgrade(socket, refusal);
      wss.handleUpgrade(req, socket, head, (ws) => stream.accept(ws));
    })();
  };
  server.on("upgrade", onUpgrade);
  const served = servedPaths(server);
  served.set(onUpgrade, path);
  return {
    get clientCount() {
      return stream.clientCount;
    },
    close() {
      server.off("upgrade", onUpgrade);
      served.delete(onUpgrade);
      stream.close();
      wss.close();
    },
  };
}

const UPGRADE_NOT_FOUND = failure(404, "NOT_FOUND", "no WebSocket endpoint at this path");

/** The status sockets' upgrade listeners on each server, with the path each serves. */
const statusSockets = new WeakMap<Server, Map<(...args: never[]) => void, string>>();
/** Upgrades already answered 404 by one of the status sockets of their server. */
const answered = new WeakSet<Duplex>();

function servedPaths(server: Server): Map<(...args: never[]) => void, string> {
  let served = statusSockets.get(server);
  if (served === undefined) {
    served = new Map();
    statusSockets.set(server, served);
  }
  return served;
}

/**
 * Whether a status socket answers 404 to an upgrade that no status socket of `server` serves (and
 * then closes it): always under its own prefix, elsewhere only when the server has no upgrade
 * listener of the application's that might answer it. Without this, nobody answers and the socket
 * stays open for good.
 */
function answersUnserved(server: Server, prefix: string, requested: string, socket: Duplex): boolean {
  const served = servedPaths(server);
  if (answered.has(socket) || [...served.values()].includes(requested)) return false;
  const underPrefix = prefix !== "" && (requested === prefix || requested.startsWith(`${prefix}/`));
  const foreign = server.listeners("upgrade").some((listener) => !served.has(listener as (...args: never[]) => void));
  if (!underPrefix && foreign) return false;
  answered.add(socket);
  return true;
}

function pathname(url: string | undefined): string {
  const end = url?.search(/[?#]/) ?? -1;
  return (end === -1 ? url : url?.slice(0, end)) ?? "/";
}

function refuseUpgrade(socket: Duplex, refusal: HttpFailure): void {
  const body = JSON.stringify(refusal.body);
  socket.write(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ""}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  socket.destroy();
}
