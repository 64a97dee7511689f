import postgres from "postgres";
import type { JobChange } from "../../types.js";
import type { ChangeListener, Unsubscribe } from "../storage.js";
import { connectionOptionsOf } from "./driver.js";
import * as q from "./sql/notify.js";
import { fromChangeTuple } from "./rows.js";

/** Waits before LISTEN is tried again after a loss, by consecutive failures; jittered, capped at the last. */
const BACKOFF_MS = [100, 500, 1_000, 2_500, 5_000] as const;

/** How the listen connection is watched. */
export interface ListenerTiming {
  /** How often the listen connection proves it still listens (a round trip on it). */
  readonly checkMs: number;
  /** How long LISTEN or a check may take before the connection counts as dead (half-open sockets never error). */
  readonly timeoutMs: number;
}

/** The listen connection's `application_name` in `pg_stat_activity` (PostgreSQL keeps 63 bytes of it). */
export function listenerApplicationName(schema: string): string {
  return `jobgraph_listen:${schema}`;
}

/** Tags of own writes delivered early that the feed remembers (see `delivered`). */
const REMEMBERED_TAGS = 10_000;

/**
 * The change feed of one PostgresStorage: one LISTEN on a connection of its own, fanned out to
 * every subscriber. The connection is checked every `checkMs`; when it closes, errors, or a check
 * times out, it is dropped and LISTEN is re-established on a fresh one with bounded backoff, for
 * as long as anyone subscribes. Notifications sent meanwhile are gone, so every re-establishment
 * tells subscribers to re-read (`onReset`).
 */
export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();
  /** The dedicated connection (a postgres.js instance with one connection), while there is one. */
  private connection: postgres.Sql | undefined;
  /** Bumped on every (re)connect and teardown, so callbacks of an older connection do nothing. */
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private active = false;
  private failures = 0;
  /** Whether notifications may have been missed since the last LISTEN (a loss or a failed try). */
  private missed = false;
  private established = false;
  private closed = false;
  /**
   * Changes of this store's own writes, by the write's tag, waiting for that write's notification:
   * delivered at its place among the other stores' changes, so that none overtakes an earlier one.
   */
  private readonly awaiting = new Map<string, readonly JobChange[]>();
  /**
   * Tags of own writes delivered before their other half arrived: heard before their commit was
   * answered (read from the notification; the commit's answer may never come), or published while
   * not listening. The other half is then skipped. The oldest are forgotten past `REMEMBERED_TAGS`.
   */
  private readonly delivered = new Set<string>();
  /** Own writes already waiting at the last check (see `deliverOverdue`). */
  private overdue = new Set<string>();
  /** The tag of the notification heard last: the notifications of one write come one after another. */
  private lastTag: string | undefined;
  /** Whether the write `lastTag` names is delivered by reading its notifications. */
  private readingLast = false;
  /** How the tags of this store's own writes begin. */
  private readonly ownPrefix: string;

  constructor(
    private readonly sql: postgres.Sql,
    /** The channel to LISTEN on, and this store's part of its own writes' tags (see `Notice`). */
    private readonly notice: q.Notice,
    /** false: no LISTEN; this store's own changes are delivered in process only. */
    private readonly enabled: boolean,
    private readonly timing: ListenerTiming,
    /** Names the listen connection in `pg_stat_activity`. */
    private readonly applicationName: string,
  ) {
    this.ownPrefix = `${notice.sender}.`;
  }

  /** Whether LISTEN is in place right now, as far as the last check knows. */
  get listening(): boolean {
    return this.established;
  }

  subscribe(listener: ChangeListener): Unsubscribe {
    this.listeners.add(listener);
    if (this.enabled && !this.active && !this.closed) {
      this.active = true;
      // Until LISTEN is in place, changes go unheard: a subscriber that already looked (a worker's
      // first claim runs at once) must look again then, as after a loss.
      this.missed = true;
      void this.connect();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.stop();
    };
  }

  /**
   * Takes the changes of a write of this store's own, tagged `tag`, after its commit. Listening,
   * they are delivered when its notification comes, in its place, without reading it; not
   * listening, at once.
   */
  publishOwn(tag: string, changes: readonly JobChange[]): void {
    if (changes.length === 0) return;
    if (this.enabled && this.established) {
      if (!this.delivered.delete(tag)) this.awaiting.set(tag, changes);
      return;
    }
    if (this.enabled) this.remember(tag);
    this.emit(changes);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.stop();
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation;
    const connection = postgres({
      ...connectionOptionsOf(this.sql),
      max: 1,
      idle_timeout: null,
      max_lifetime: null,
      fetch_types: false,
      connection: { ...this.sql.options.connection, application_name: this.applicationName },
      onnotice: () => undefined,
      onnotify: (channel: string, payload: string) => {
        if (generation === this.generation && channel === this.notice.channel) this.onNotify(payload);
      },
      onclose: () => {
        if (generation === this.generation) this.lost();
      },
    } as unknown as postgres.Options<{}>);
    this.connection = connection;
    try {
      await withTimeout(q.listen(connection, this.notice.channel), this.timing.timeoutMs);
    } catch {
      if (generation === this.generation) this.lost();
      return;
    }
    if (generation !== this.generation) return;
    this.failures = 0;
    this.established = true;
    this.scheduleCheck(generation, connection);
    if (this.missed) {
      this.missed = false;
      this.reset();
    }
  }

  /** Drops the connection and, while anyone subscribes, tries LISTEN again after a backoff. */
  private lost(): void {
    this.teardown();
    this.missed = true;
    // Their notifications are gone with the connection.
    for (const changes of this.awaiting.values()) this.emit(changes);
    this.awaiting.clear();
    this.overdue.clear();
    if (this.closed || !this.active || this.listeners.size === 0) {
      this.active = false;
      return;
    }
    const base = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)] ?? 5_000;
    this.failures++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, base / 2 + Math.random() * (base / 2));
    this.timer.unref();
  }

  /** A round trip on the listen connection that also proves the LISTEN is still registered. */
  private scheduleCheck(generation: number, connection: postgres.Sql): void {
    this.timer = setTimeout(() => {
      void (async () => {
        let ok = false;
        try {
          const [row] = await withTimeout(q.listeningOn(connection, this.notice.channel), this.timing.timeoutMs);
          ok = row?.listening === true;
        } catch {
          ok = false;
        }
        if (generation !== this.generation) return;
        if (!ok) {
          this.lost();
          return;
        }
        this.deliverOverdue();
        this.scheduleCheck(generation, connection);
      })();
    }, this.timing.checkMs);
    this.timer.unref();
  }

  private teardown(): void {
    this.generation++;
    this.established = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const connection = this.connection;
    this.connection = undefined;
    // timeout 0: a half-open socket would never answer a polite goodbye.
    if (connection !== undefined) void connection.end({ timeout: 0 }).catch(() => undefined);
  }

  private async stop(): Promise<void> {
    this.active = false;
    this.awaiting.clear();
    const connection = this.connection;
    this.teardown();
    if (connection !== undefined) await connection.end({ timeout: 0 }).catch(() => undefined);
  }

  /**
   * A notification: untagged (`[...]`, from an application's transaction) or tagged `<store>.<write>|`.
   * Another store's is read; one of this store's own delivers the changes kept for it, or is read
   * when it came before its write's commit was answered.
   */
  private onNotify(payload: string): void {
    if (payload.startsWith("[")) {
      this.lastTag = undefined;
      this.read(payload);
      return;
    }
    const bar = payload.indexOf("|");
    if (bar < 0) return;
    const tag = payload.slice(0, bar + 1);
    const body = payload.slice(bar + 1);
    const continued = tag === this.lastTag;
    this.lastTag = tag;
    if (!tag.startsWith(this.ownPrefix)) {
      this.read(body);
      return;
    }
    if (continued) {
      if (this.readingLast) this.read(body);
      return;
    }
    const kept = this.awaiting.get(tag);
    this.readingLast = kept === undefined && !this.delivered.delete(tag);
    if (kept !== undefined) {
      this.awaiting.delete(tag);
      this.emit(kept);
    } else if (this.readingLast) {
      this.remember(tag);
      this.read(body);
    }
  }

  /** Delivers the changes a notification's JSON lists; anything else is ignored. */
  private read(json: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      return;
    }
    if (!Array.isArray(parsed)) return;
    const at = new Date();
    const changes = parsed.flatMap((tuple) => fromChangeTuple(tuple, at) ?? []);
    if (changes.length > 0) this.emit(changes);
  }

  /**
   * Delivers own writes that have waited for their notification since the check before last: it
   * will not come (the write committed before LISTEN was in place). A whole check interval and a
   * round trip on the listen connection lie between, so a notification still on its way is not
   * overtaken; should it come after all, it is skipped as delivered.
   */
  private deliverOverdue(): void {
    for (const tag of this.overdue) {
      const changes = this.awaiting.get(tag);
      if (changes === undefined) continue;
      this.awaiting.delete(tag);
      this.remember(tag);
      this.emit(changes);
    }
    this.overdue = new Set(this.awaiting.keys());
  }

  private remember(tag: string): void {
    this.delivered.add(tag);
    if (this.delivered.size > REMEMBERED_TAGS) this.delivered.delete(this.delivered.values().next().value as string);
  }

  /** Every subscriber gets a list of its own of the same changes, frozen: none can alter what another sees. */
  private emit(changes: readonly JobChange[]): void {
    changes.forEach(Object.freeze);
    for (const listener of [...this.listeners]) {
      try {
        listener.onChange(changes.slice());
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

/** Rejects when `promise` has not settled within `ms`; the promise itself is left to fail on its own. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  promise.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
