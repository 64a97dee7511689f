import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { WebSocket } from "ws";
import { attachStatusSocket } from "../../adapters/express.js";
import { jobgraphFrameworkErrors, jobgraphPlugin } from "../../adapters/fastify.js";
import type { AuthorizeAction, Refusal, StatusStreamOptions } from "../../adapters/http.js";
import type { Registry } from "prom-client";
import { jobgraphRouter } from "../../adapters/express.js";
import type { Queue } from "../../src/index.js";

/** What the shared suite configures, whichever framework serves it. */
export interface AppOptions {
  readonly authorize?: (request: { headers: IncomingHttpHeaders }, action: AuthorizeAction) => boolean | Refusal | Promise<boolean | Refusal>;
  readonly allowedTypes?: readonly string[];
  readonly bodyLimitBytes?: number;
  readonly registry?: Registry;
  readonly statusStream?: StatusStreamOptions;
  readonly onError?: (error: unknown) => void;
  readonly dashboard?: boolean;
}

/** A server on 127.0.0.1 with the routes at `/api` and the socket at `/api/ws`. */
export interface RunningApp {
  /** `http://127.0.0.1:<port>/api` */
  readonly api: string;
  /** `ws://127.0.0.1:<port>/api/ws` */
  readonly ws: string;
  close(): Promise<void>;
}

export type StartApp = (queue: Queue, options?: AppOptions) => Promise<RunningApp>;

function urls(port: number): { api: string; ws: string } {
  return { api: `http://127.0.0.1:${port}/api`, ws: `ws://127.0.0.1:${port}/api/ws` };
}

export const startExpressApp: StartApp = async (queue, options = {}) => {
  const app = express();
  const { statusStream, ...routerOptions } = options;
  app.use("/api", jobgraphRouter(queue, routerOptions));
  const server: Server = createServer(app);
  const socket = attachStatusSocket(server, queue, {
    prefix: "/api",
    ...(options.authorize === undefined ? {} : { authorize: options.authorize }),
    ...(statusStream === undefined ? {} : { statusStream }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    ...urls((server.address() as AddressInfo).port),
    close: async () => {
      socket.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

export const startFastifyApp: StartApp = async (queue, options = {}) => {
  const app = Fastify({ logger: false, frameworkErrors: jobgraphFrameworkErrors });
  await app.register(jobgraphPlugin, { queue, prefix: "/api", ...options });
  await app.listen({ host: "127.0.0.1", port: 0 });
  return {
    ...urls((app.server.address() as AddressInfo).port),
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
};

/** Both frameworks, for suites that run once per framework. */
export const FRAMEWORKS: readonly (readonly [string, StartApp])[] = [
  ["express", startExpressApp],
  ["fastify", startFastifyApp],
];

/** An answer: status, content type, text, and the body parsed as JSON when it is JSON. */
export interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: any;
}

/** `fetch` with a JSON body (an object is stringified; a string is sent as it is). */
export async function request(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers } };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const response = await fetch(url, init);
  const text = await response.text();
  const contentType = response.headers.get("content-type") ?? "";
  let json: unknown;
  if (contentType.includes("json")) json = JSON.parse(text);
  return { status: response.status, contentType, text, json };
}

/** Error answers never carry a stack: no "at " frames, no file paths, no error class dumps. */
export function assertNoStack(text: string): void {
  if (/\bat [\w.<>]+ \(|\bat file:|node:internal|\.ts:\d+|\.js:\d+|Error: /.test(text)) throw new Error(`answer leaks a stack or an error: ${text.slice(0, 500)}`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Message = any;

/** A WebSocket client that keeps every message, and waits for facts. */
export class StatusClient {
  readonly messages: Message[] = [];
  private waiters: { predicate: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data) => {
      const message: Message = JSON.parse(String(data));
      this.messages.push(message);
      this.waiters = this.waiters.filter((w) => {
        if (!w.predicate(message)) return true;
        w.resolve(message);
        return false;
      });
    });
    this.closed = new Promise((resolve) => socket.on("close", (code, reason) => resolve({ code, reason: String(reason) })));
  }

  /** Connects; rejects with the HTTP status when the upgrade is refused. */
  static connect(url: string, headers: Record<string, string> = {}): Promise<StatusClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      const client = new StatusClient(socket);
      socket.once("open", () => resolve(client));
      socket.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += String(chunk)));
        res.on("end", () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body })));
      });
      socket.once("error", reject);
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** The first message (already received or still to come) matching `predicate`. */
  next(predicate: (m: Message) => boolean, description = "a message"): Promise<Message> {
    const seen = this.messages.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${description} within 10 s; got ${JSON.stringify(this.messages.slice(-5))}`)), 10_000);
      this.waiters.push({ predicate, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  /** Subscribes and waits for the acknowledgement. */
  async subscribe(jobIds?: readonly string[]): Promise<void> {
    const before = this.messages.length;
    this.send(jobIds === undefined ? { type: "subscribe" } : { type: "subscribe", jobIds });
    await this.next((m) => m.type === "subscribed" && this.messages.indexOf(m) >= before, "subscribe acknowledgement");
  }

  /** Statuses received for one job, in order. */
  statusesOf(id: string): string[] {
    return this.messages.filter((m) => m.type === "job" && m.id === id).map((m) => m.status as string);
  }

  close(): void {
    this.socket.terminate();
  }
}
