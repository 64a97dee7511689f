import { once } from "node:events";
import { connect } from "node:net";
import { afterEach } from "vitest";
import { z } from "zod";
import { MemoryStorage, PermanentError, Queue, type JobCounts, type JobId, type JobRecord, type QueueOptions } from "../../src/index.js";
import type { AppOptions, RunningApp, StartApp } from "./support.js";

/** A job that runs until the test opens its gate. */
export class Gates {
  private readonly gates = new Map<string, { promise: Promise<void>; open: () => void }>();
  wait(name: string): Promise<void> {
    return this.get(name).promise;
  }
  open(name: string): void {
    this.get(name).open();
  }
  private get(name: string) {
    let gate = this.gates.get(name);
    if (gate === undefined) {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
      this.gates.set(name, gate);
    }
    return gate;
  }
}

/** A store whose reads of one job fail the way a driver fails: with internals in the message. */
export class BrokenReadStorage extends MemoryStorage {
  static readonly brokenId = "00000000-0000-4000-8000-00000000dead";
  override async getJob(id: JobId): Promise<JobRecord | undefined> {
    if (id === BrokenReadStorage.brokenId) {
      throw new Error('relation "jobgraph.jobs" does not exist\n    at Connection.parseE (/srv/app/node_modules/postgres/src/connection.js:790:38)');
    }
    return super.getJob(id);
  }
}

/** A store that counts its `countJobs` calls: what one `queue.metrics()` costs in queries. */
export class CountingStorage extends MemoryStorage {
  countJobsCalls = 0;
  override async countJobs(): Promise<JobCounts> {
    this.countJobsCalls++;
    return super.countJobs();
  }
}

export interface Harness {
  readonly queue: Queue;
  readonly app: RunningApp;
  readonly gates: Gates;
  readonly api: string;
}

/** Makes queues and apps for one file, and closes them after each test. */
export function harness(start: StartApp) {
  const open: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of open.splice(0).reverse()) await close();
  });
  return async function setup(options: AppOptions = {}, queueOptions: QueueOptions & { run?: boolean } = {}): Promise<Harness> {
    const { run = true, ...rest } = queueOptions;
    const queue = new Queue({ pollIntervalMs: 50, shutdownGraceMs: 200, capacity: { cpu: 4 }, ...rest });
    const gates = new Gates();
    queue.defineHandler("email.send", { payload: z.object({ to: z.string() }).strict(), run: async () => ({ sent: true }) });
    queue.defineHandler("gate", { run: async (payload) => void (await gates.wait((payload as { name: string }).name)) });
    queue.defineHandler("fail.always", { run: async () => Promise.reject(new PermanentError("card declined")) });
    if (run) await queue.start();
    const app = await start(queue, { onError: () => undefined, ...options });
    open.push(async () => {
      await app.close();
      await queue.shutdown();
    });
    return { queue, app, gates, api: app.api };
  };
}

/** Sends an upgrade request by hand; answers what came back once the server closed the socket. */
export async function rawUpgrade(wsUrl: string, headers: Record<string, string>): Promise<{ head: string }> {
  const url = new URL(wsUrl);
  const socket = connect(Number(url.port), url.hostname);
  await once(socket, "connect");
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`);
  let text = "";
  socket.on("data", (chunk: Buffer) => (text += String(chunk)));
  await once(socket, "close");
  return { head: text };
}

/**
 * Sends an upgrade request by hand and answers what came back, and whether the server closed the
 * socket; gives up waiting for the close after `waitMs` (the answer then says `closed: false`).
 */
export async function upgradeAnswer(url: string, waitMs = 5_000): Promise<{ head: string; closed: boolean }> {
  const target = new URL(url);
  const socket = connect(Number(target.port), target.hostname);
  await once(socket, "connect");
  socket.write(`GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  let head = "";
  socket.on("data", (chunk: Buffer) => (head += String(chunk)));
  socket.on("error", () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    once(socket, "close").then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), waitMs))),
  ]);
  clearTimeout(timer);
  socket.destroy();
  return { head, closed };
}

/** Parses Prometheus text exposition into `name{labels}` -> value; throws on a malformed line. */
export function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    if (match === null) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    samples.set(match[1] as string, Number(match[2]));
  }
  return samples;
}
