import { ServerResponse, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { PeerDependencyMissingError, type Queue } from "../src/index.js";
import { checkAuthorization, checkOrigin, type AuthorizeAction } from "./authorize.js";
import { createRouteContext, pathOptions, routes, type HttpResponse, type JobgraphHttpOptions } from "./http.js";
import { parseJsonBody } from "./json-body.js";
import { DASHBOARD_SECURITY_HEADERS, staticRequest } from "./dashboard-assets.js";
import { failure, frameworkFailure, HttpError, INTERNAL_ERROR, toHttpFailure, type HttpFailure } from "./http-errors.js";
import { importPeer } from "./peer.js";
import { MAX_CLIENT_MESSAGE_BYTES, StatusStream } from "./status-stream.js";

export type { Authorize, AuthorizeAction, ErrorBody, JobgraphHttpOptions, Refusal, StatusStreamOptions } from "./http.js";
export { AUTHORIZE_ACTIONS } from "./http.js";

/** Options of `jobgraphPlugin`; Fastify's own `prefix` sets where the routes and `/ws` are mounted. */
export interface JobgraphPluginOptions extends JobgraphHttpOptions<FastifyRequest> {
  readonly queue: Queue;
}

// Keys Fastify passes to every plugin besides ours.
const FASTIFY_KEYS = new Set(["prefix", "logLevel", "logSerializers"]);

/**
 * The jobgraph routes and the status socket as a Fastify plugin:
 * `app.register(jobgraphPlugin, { queue, prefix: "/api" })`. Not wrapped in fastify-plugin, so its
 * error handler, hooks and `prefix` stay inside it.
 */
export const jobgraphPlugin: FastifyPluginAsync<JobgraphPluginOptions> = async (app, pluginOptions) => {
  const { queue, ...rest } = pluginOptions;
  const options = Object.fromEntries(Object.entries(rest).filter(([key]) => !FASTIFY_KEYS.has(key))) as Omit<JobgraphPluginOptions, "queue">;
  const context = createRouteContext(queue, options);
  // Fastify keeps a trailing slash of the prefix ("/", "/a/b/") in `app.prefix` but not in the routes' paths.
  const mount = app.prefix.replace(/\/+$/, "");
  const authorizeFor = (action: AuthorizeAction) => async (request: FastifyRequest, reply: FastifyReply) => {
    const refusal =
      (action === "status:subscribe" ? checkOrigin(request.raw as IncomingMessage, options.statusStream?.allowedOrigins) : undefined) ??
      (await checkAuthorization(options.authorize, request, action, context.onError));
    if (refusal === undefined) return;
    if (request.headers.upgrade !== undefined) {
      // A refused upgrade gets its answer, then that socket (and only it) is closed.
      reply.header("connection", "close");
      reply.raw.once("finish", () => request.raw.socket.destroy());
    }
    return send(reply, refusal);
  };

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const refused = toHttpFailure(error);
    if (refused !== undefined) return send(reply, refused);
    const known = frameworkFailure(error.statusCode, context.bodyLimitBytes);
    if (known === undefined) context.onError(error);
    return send(reply, known ?? INTERNAL_ERROR);
  });

  // Under the plugin's prefix, an unknown path answers our error shape too, not Fastify's. Without a
  // prefix the 404 handler would be the whole application's, which is the application's to set.
  if (mount !== "") app.setNotFoundHandler((request, reply) => send(reply, failure(404, "NOT_FOUND", `no route ${request.method} ${(request.url.split("?")[0] ?? "").slice(0, 200)}`)));

  // Our own JSON parser, in this plugin only: the same prototype-key refusal as Express, and an
  // empty body counts as none (bodiless POSTs such as /cancel may still carry a JSON content type).
  app.removeContentTypeParser(["application/json"]);
  const parseJson = async (_request: FastifyRequest, text: string): Promise<unknown> => {
    try {
      return parseJsonBody(text);
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw Object.assign(new Error("malformed JSON"), { statusCode: 400 });
    }
  };
  app.addContentTypeParser("application/json", { parseAs: "string" }, parseJson);
  app.addContentTypeParser(/^application\/[\w.-]+\+json$/, { parseAs: "string" }, parseJson);

  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.path,
      bodyLimit: context.bodyLimitBytes,
      onRequest: authorizeFor(route.action),
      handler: async (request, reply) => {
        const result = await route.run(context, {
          params: request.params,
          query: request.query,
          body: request.body,
          hasBody: request.headers["transfer-encoding"] !== undefined || (request.headers["content-length"] ?? "0") !== "0",
          contentType: request.headers["content-type"],
          accept: request.headers.accept,
          basePath: mount,
        });
        return send(reply, result);
      },
    });
  }

  for (const { path, action, allow } of pathOptions) {
    app.route({ method: "OPTIONS", url: path, onRequest: authorizeFor(action), handler: async (_request, reply) => reply.header("allow", allow).code(204).send() });
  }

  const dashboard = context.dashboard;
  if (dashboard !== undefined) {
    const securePage = async (_request: FastifyRequest, reply: FastifyReply) => void reply.headers(DASHBOARD_SECURITY_HEADERS);
    for (const url of ["/ui", "/ui/*"]) {
      app.route({
        method: ["GET", "OPTIONS"],
        url,
        onRequest: [securePage, authorizeFor("dashboard:read")],
        handler: async (request, reply) => {
          const answer = dashboard.answer(staticRequest(request.url, mount.length + "/ui".length, request.method, request.headers), `${mount}/ui`);
          return reply.code(answer.status).headers(answer.headers).send(answer.body);
        },
      });
    }
  }

  if (!app.hasDecorator("websocketServer")) {
    let websocket: typeof import("@fastify/websocket").default;
    try {
      const loaded = await importPeer("@fastify/websocket", "the status socket", () => import("@fastify/websocket"));
      websocket = loaded.default;
    } catch (error) {
      if (!(error instanceof PeerDependencyMissingError)) throw error;
      // Everything but the status socket works without @fastify/websocket; /ws says what to install.
      const missing = failure(501, error.code, error.message, error.details);
      app.get("/ws", { onRequest: authorizeFor("status:subscribe") }, async (_request, reply) => send(reply, missing));
      return;
    }
    await app.register(websocket, { options: { maxPayload: MAX_CLIENT_MESSAGE_BYTES } });
  }
  const stream = new StatusStream(queue, options.statusStream);
  app.addHook("onClose", async () => stream.close());
  app.get("/ws", { websocket: true, onRequest: authorizeFor("status:subscribe") }, (socket) => stream.accept(socket));
  app.server.on("upgrade", closeWhenAnswered);
  app.addHook("onClose", async () => void app.server.off("upgrade", closeWhenAnswered));
};

/**
 * @fastify/websocket routes every upgrade through Fastify with a response bound to the socket: a
 * path nobody serves gets Fastify's 404, and then the socket stayed open, waiting for a next request
 * that a WebSocket client never sends. Once such an answer is out, the socket is closed. An upgrade
 * that succeeds writes its 101 past that response, which then never finishes.
 */
function closeWhenAnswered(_request: IncomingMessage, socket: Duplex): void {
  // After every upgrade listener ran, so the response is bound (`assignSocket` keeps it there).
  process.nextTick(() => {
    const response = (socket as Duplex & { _httpMessage?: unknown })._httpMessage;
    if (!(response instanceof ServerResponse)) return;
    if (response.writableFinished) socket.destroy();
    else response.once("finish", () => socket.destroy());
  });
}

/**
 * For Fastify's `frameworkErrors` option, which only the application can set: a URL that does not
 * percent-decode (`/api/ui/%ff`) is refused by Fastify's router before any plugin sees it. With
 * `Fastify({ frameworkErrors: jobgraphFrameworkErrors })` it is a 400 `BAD_REQUEST` in the jobgraph
 * error shape, with the dashboard's security headers; other router errors keep their status.
 */
export function jobgraphFrameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  reply.headers(DASHBOARD_SECURITY_HEADERS);
  if (error.code === "FST_ERR_BAD_URL") return void send(reply, failure(400, "BAD_REQUEST", "the request URL is malformed"));
  const status = typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 400;
  void send(reply, status >= 500 ? INTERNAL_ERROR : failure(status, "BAD_REQUEST", "bad request"));
}

function send(reply: FastifyReply, result: HttpResponse | HttpFailure): FastifyReply {
  reply.code(result.status);
  if ("contentType" in result && result.contentType !== undefined) return reply.type(result.contentType).send(result.body);
  return reply.type("application/json; charset=utf-8").send(JSON.stringify(result.body));
}
