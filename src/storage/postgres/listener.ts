import type postgres from "postgres";
import type { JobChange } from "../../types.js";
import type { ChangeListener, Unsubscribe } from "../storage.js";
import { fromChangeTuple } from "./rows.js";

/** How long to wait before trying LISTEN again when it failed (e.g. the server was down). */
const RETRY_MS = [250, 1_000, 5_000, 15_000] as const;

/**
 * The change feed of one PostgresStorage: a single LISTEN (postgres.js keeps it on its own
 * connection and re-issues it after reconnects) fanned out to every subscriber. Every re-listen
 * after the first tells subscribers to re-read, since notifications sent meanwhile are gone.
 */
export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();
  private listening: Promise<postgres.ListenMeta> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private listens = 0;
  private closed = false;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly channel: string,
    /** false: no LISTEN; this store's own changes are delivered in process only. */
    private readonly enabled: boolean,
  ) {}

  subscribe(listener: ChangeListener): Unsubscribe {
    this.listeners.add(listener);
    if (this.enabled && this.listening === undefined && this.retryTimer === undefined) this.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.stop();
    };
  }

  /** Delivers changes made by this process when there is no LISTEN to bring them back. */
  publishLocal(changes: readonly JobChange[]): void {
    if (this.enabled || changes.length === 0) return;
    this.emit(changes);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.stop();
  }

  private start(): void {
    if (this.closed) return;
    this.listens = 0;
    const listening = this.sql.listen(
      this.channel,
      (payload) => this.onNotify(payload),
      () => this.onListen(),
    );
    this.listening = listening;
    listening.then(
      () => {
        this.failures = 0;
      },
      () => {
        if (this.listening !== listening) return;
        this.listening = undefined;
        this.scheduleRetry();
      },
    );
  }

  private scheduleRetry(): void {
    if (this.closed || this.listeners.size === 0) return;
    const delay = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)] ?? 15_000;
    this.failures++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.listeners.size === 0) return;
      this.start();
      // A LISTEN failed, so whatever happened until now was missed: the next one resets.
      this.listens = 1;
    }, delay);
    this.retryTimer.unref();
  }

  private async stop(): Promise<void> {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const listening = this.listening;
    this.listening = undefined;
    if (listening === undefined) return;
    try {
      await (await listening).unlisten();
    } catch {
      // The connection is gone already; nothing is listening.
    }
  }

  private onListen(): void {
    this.listens++;
    if (this.listens > 1) this.reset();
  }

  private onNotify(payload: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      return;
    }
    if (!Array.isArray(parsed)) return;
    const at = new Date();
    const changes = parsed.flatMap((tuple) => fromChangeTuple(tuple, at) ?? []);
    if (changes.length > 0) this.emit(changes);
  }

  private emit(changes: readonly JobChange[]): void {
    for (const listener of [...this.listeners]) {
      try {
        listener.onChange(changes.map((change) => ({ ...change })));
      } catch {
        // A subscriber's failure is its own; the feed and the other subscribers carry on.
      }
    }
  }

  private reset(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener.onReset?.();
      } catch {
        // As above.
      }
    }
  }
}
