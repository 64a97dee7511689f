import type { RawData, WebSocket } from "ws";
import type { JobChange, Queue } from "../src/index.js";
import { statusClientMessage } from "./schemas.js";

/** Options of the WebSocket status stream. */
export interface StatusStreamOptions {
  /** A client whose unsent data exceeds this is dropped, so a slow reader cannot grow memory (default 1 MiB). */
  readonly maxBufferedBytes?: number;
  /** Ping every this often; a client that has not answered the previous ping is dropped (default 30 s). */
  readonly pingIntervalMs?: number;
  /** Most job ids one client may follow (default 1000). */
  readonly maxJobIdsPerClient?: number;
  /** Invalid messages after which a client is closed with 1008 (default 10). */
  readonly maxBadMessages?: number;
  /** Browser origins allowed besides the server's own host (an upgrade without `Origin` always passes). */
  readonly allowedOrigins?: readonly string[];
  /** Told when a client is dropped: too slow, not answering pings, or sending too many bad messages. */
  readonly onClientDropped?: (reason: "slow" | "unresponsive" | "protocol") => void;
}

/** Largest message a client may send; its messages are only subscribe/unsubscribe. */
export const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024;

interface Client {
  readonly socket: WebSocket;
  all: boolean;
  readonly jobIds: Set<string>;
  alive: boolean;
  badMessages: number;
}

/**
 * Streams job status changes from the store's change feed (so changes made by other processes
 * arrive too) to WebSocket clients, each receiving what it subscribed to. Framework-neutral: it
 * takes `ws` sockets, which both Express (through `ws`) and @fastify/websocket hand out.
 */
export class StatusStream {
  private readonly clients = new Set<Client>();
  private readonly maxBufferedBytes: number;
  private readonly maxJobIds: number;
  private readonly maxBadMessages: number;
  private readonly onClientDropped: NonNullable<StatusStreamOptions["onClientDropped"]>;
  private readonly timer: NodeJS.Timeout;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  private readonly onQueueClosed = () => this.close(1001, "queue shut down");

  constructor(
    private readonly queue: Queue,
    options: StatusStreamOptions = {},
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.maxJobIds = options.maxJobIdsPerClient ?? 1_000;
    this.maxBadMessages = options.maxBadMessages ?? 10;
    this.onClientDropped = options.onClientDropped ?? (() => undefined);
    this.timer = setInterval(() => this.ping(), options.pingIntervalMs ?? 30_000);
    this.timer.unref();
    queue.on("queue:closed", this.onQueueClosed);
    try {
      this.unsubscribe = queue.storage.subscribe({
        onChange: (changes) => this.broadcast(changes),
        // Changes may have been missed (the store reconnected): clients re-read what they show.
        onReset: () => this.sendToAll(JSON.stringify({ type: "reset" })),
      });
    } catch {
      this.close(1001, "queue shut down"); // the store is already closed
    }
  }

  /** Clients connected now. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Takes over an upgraded socket. Handlers are attached at once, so no early message is lost. */
  accept(socket: WebSocket): void {
    if (this.closed) {
      socket.close(1001, "queue shut down");
      return;
    }
    const client: Client = { socket, all: false, jobIds: new Set(), alive: true, badMessages: 0 };
    this.clients.add(client);
    socket.on("message", (data, isBinary) => this.onMessage(client, data, isBinary));
    socket.on("pong", () => {
      client.alive = true;
    });
    socket.on("close", () => this.clients.delete(client));
    // An oversized frame or a broken connection: ws closes the socket; nothing else to do.
    socket.on("error", () => this.clients.delete(client));
  }

  /** Closes every client (1001 by default) and stops following the queue. Idempotent. */
  close(code = 1001, reason = "server shutting down"): void {
    this.closed = true;
    clearInterval(this.timer);
    this.queue.off("queue:closed", this.onQueueClosed);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const client of this.clients) client.socket.close(code, reason);
    this.clients.clear();
  }

  private onMessage(client: Client, data: RawData, isBinary: boolean): void {
    if (isBinary) return this.reject(client, "VALIDATION", "send messages as JSON text");
    let message: unknown;
    try {
      message = JSON.parse(toBuffer(data).toString("utf8"));
    } catch {
      return this.reject(client, "MALFORMED_JSON", "the message is not valid JSON");
    }
    const parsed = statusClientMessage.safeParse(message);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message }));
      return this.reject(client, "VALIDATION", 'expected {"type":"subscribe"|"unsubscribe","jobIds"?:[uuid...]}', { issues });
    }
    const { type, jobIds } = parsed.data;
    const ids = jobIds?.map((id) => id.toLowerCase());
    if (type === "subscribe") {
      if (ids === undefined) client.all = true;
      else {
        const after = new Set([...client.jobIds, ...ids]);
        if (after.size > this.maxJobIds) return this.reject(client, "VALIDATION", `at most ${this.maxJobIds} job ids per connection`);
        for (const id of ids) client.jobIds.add(id);
      }
    } else if (ids === undefined) {
      client.all = false;
      client.jobIds.clear();
    } else {
      for (const id of ids) client.jobIds.delete(id);
    }
    this.send(client, JSON.stringify(ids === undefined ? { type: `${type}d` } : { type: `${type}d`, jobIds: ids }));
  }

  private reject(client: Client, code: string, message: string, details?: unknown): void {
    client.badMessages += 1;
    this.send(client, JSON.stringify({ type: "error", error: details === undefined ? { code, message } : { code, message, details } }));
    if (client.badMessages >= this.maxBadMessages) this.drop(client, "protocol");
  }

  private broadcast(changes: readonly JobChange[]): void {
    for (const change of changes) {
      const text = JSON.stringify({ type: "job", id: change.id, jobType: change.type, status: change.status, attempt: change.attempt, at: change.at.toISOString() });
      for (const client of this.clients) if (client.all || client.jobIds.has(change.id)) this.send(client, text);
    }
  }

  private sendToAll(text: string): void {
    for (const client of this.clients) this.send(client, text);
  }

  private send(client: Client, text: string): void {
    if (client.socket.readyState !== client.socket.OPEN) return;
    if (client.socket.bufferedAmount > this.maxBufferedBytes) return this.drop(client, "slow");
    client.socket.send(text);
  }

  private ping(): void {
    for (const client of this.clients) {
      if (!client.alive) {
        this.drop(client, "unresponsive");
        continue;
      }
      client.alive = false;
      if (client.socket.readyState === client.socket.OPEN) client.socket.ping();
    }
  }

  /** Slow or silent clients are cut at once: a close frame would only queue behind their backlog. */
  private drop(client: Client, reason: "slow" | "unresponsive" | "protocol"): void {
    if (!this.clients.delete(client)) return;
    if (reason === "protocol") client.socket.close(1008, "too many invalid messages");
    else client.socket.terminate();
    this.onClientDropped(reason);
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
