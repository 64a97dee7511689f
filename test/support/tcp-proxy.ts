import { createServer, connect, type Server, type Socket } from "node:net";

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
}

/**
 * A TCP proxy in front of PostgreSQL that a test can break: refuse connections (the server is
 * down) or blackhole the open ones (a half-open network: bytes vanish, nothing closes).
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<Pair>();
  private refusing = false;
  /** Called with each connection as it opens (see `holdRepliesAfter`). */
  private readonly watchers: ((pair: Pair) => void)[] = [];
  /** Connections turned away while refusing. */
  refused = 0;
  /** Cancel requests passed on late (see `delayCancelRequests`). */
  cancelRequests = 0;
  private cancelDelayMs = 0;
  private holdingNew = false;
  private readonly heldNew: (() => void)[] = [];

  constructor(private readonly target: { host: string; port: number }) {
    // Half-open allowed: a cancel request is written and the writer half-closes at once; it must not
    // be told "closed" (delivered) before the server had it.
    this.server = createServer({ allowHalfOpen: true }, (client) => this.onConnection(client));
  }

  /** Starts listening on a free local port; answers the URL `databaseUrl` would have through this proxy. */
  async start(databaseUrl: string): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("the proxy has no port");
    const url = new URL(databaseUrl);
    url.hostname = "127.0.0.1";
    url.port = String(address.port);
    return url.toString();
  }

  /** Connections open now and later are cut at once, as if the server went away. */
  refuse(): void {
    this.refusing = true;
    for (const pair of this.pairs) this.drop(pair);
  }

  /** New connections go through again. */
  reopen(): void {
    this.refusing = false;
  }

  /**
   * From now on, holds back each cancel request (PostgreSQL's CancelRequest, sent on a connection of
   * its own) for `ms` before passing it on, as a slow network would; counts them.
   */
  delayCancelRequests(ms: number): void {
    this.cancelDelayMs = ms;
  }

  /** New connections wait (accepted, not yet passed on) until `releaseNewConnections`, as a slow network's would. */
  holdNewConnections(): void {
    this.holdingNew = true;
  }

  /** Passes on the connections held back, and every later one at once. */
  releaseNewConnections(): void {
    this.holdingNew = false;
    for (const pass of this.heldNew.splice(0)) pass();
  }

  /** How many new connections wait (see `holdNewConnections`). */
  get waitingConnections(): number {
    return this.heldNew.length;
  }

  private onConnection(client: Socket): void {
    if (this.refusing) {
      this.refused++;
      client.destroy();
      return;
    }
    if (this.holdingNew) {
      client.pause();
      this.heldNew.push(() => this.onConnection(client));
      return;
    }
    if (this.cancelDelayMs === 0) {
      this.forward(client);
      return;
    }
    // A cancel request is the connection's first and only message: length 16, code 80877102.
    client.once("data", (first: Buffer) => {
      client.pause();
      const isCancel = first.length >= 8 && first.readInt32BE(0) === 16 && first.readInt32BE(4) === 80877102;
      if (isCancel) this.cancelRequests++;
      setTimeout(() => this.forward(client, first, isCancel), isCancel ? this.cancelDelayMs : 0);
    });
  }

  private forward(client: Socket, first?: Buffer, isCancel = false): void {
    const upstream = connect(this.target.port, this.target.host);
    if (first !== undefined) upstream.write(first);
    client.resume();
    const pair = { client, upstream };
    this.pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    for (const watch of this.watchers) watch(pair);
    const drop = () => this.drop(pair);
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    // A client that closes its side ends the connection, but for a cancel request, whose writer
    // half-closes at once and waits for the server to close (the sign it was delivered).
    if (!isCancel) client.on("end", drop);
  }

  /** The connections open now stop carrying bytes in either direction, without closing. */
  blackhole(): number {
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    return this.pairs.size;
  }

  /**
   * Holds back what the server sends on the `index`-th connection open now (in the order they
   * opened), as a slow network would; the bytes flow again, in order, when the answer is called.
   */
  holdReplies(index: number): () => void {
    const pair = [...this.pairs][index];
    if (pair === undefined) throw new Error(`the proxy has no connection ${index}`);
    return this.hold(pair);
  }

  /**
   * `holdReplies` for the connection whose side towards the server has local port `port`: what
   * PostgreSQL sees as the session's client port (`inet_client_port()`).
   */
  holdRepliesOnPort(port: number): () => void {
    const pair = this.onPort(port);
    if (pair === undefined) throw new Error(`the proxy has no connection on port ${port}`);
    return this.hold(pair);
  }

  /** Whether a connection whose side towards the server has local port `port` is still open. */
  hasPort(port: number): boolean {
    return this.onPort(port) !== undefined;
  }

  private onPort(port: number): Pair | undefined {
    return [...this.pairs].find((pair) => pair.upstream.localPort === port);
  }

  private hold(pair: Pair): () => void {
    pair.upstream.unpipe(pair.client);
    pair.upstream.pause();
    return () => {
      pair.upstream.pipe(pair.client);
      pair.upstream.resume();
    };
  }

  /**
   * Holds back every reply on the next connection on which the process sends `message` (as its
   * bytes on the wire), from that message on: the server receives and runs it, the process never
   * hears. `cut` then closes that connection, as a network that failed right after the message
   * went out. Later connections, and later messages on others, go through.
   */
  holdRepliesAfter(message: Buffer): { readonly held: () => boolean; readonly cut: () => void } {
    let held: Pair | undefined;
    const watch = (pair: Pair) => {
      let tail = Buffer.alloc(0);
      pair.client.on("data", (chunk: Buffer) => {
        if (held !== undefined) return;
        const seen = Buffer.concat([tail, chunk]);
        if (seen.includes(message)) {
          held = pair;
          this.hold(pair);
        }
        tail = seen.subarray(Math.max(0, seen.length - message.length + 1));
      });
    };
    for (const pair of this.pairs) watch(pair);
    this.watchers.push(watch);
    return {
      held: () => held !== undefined,
      cut: () => {
        if (held !== undefined) this.drop(held);
      },
    };
  }

  /** How many connections are open now. */
  get open(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) this.drop(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private drop(pair: Pair): void {
    this.pairs.delete(pair);
    pair.client.destroy();
    pair.upstream.destroy();
  }
}

/** Host and port of a PostgreSQL URL. */
export function targetOf(databaseUrl: string): { host: string; port: number } {
  const url = new URL(databaseUrl);
  return { host: url.hostname, port: Number(url.port === "" ? 5432 : url.port) };
}
