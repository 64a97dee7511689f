/**
 * Everything that knows postgres.js: what counts as a lost connection, the reconnect backoff, the
 * workarounds for its bugs, the pool and its deadlines. The rest of the store calls these; the
 * transaction a handler sees (`ctx.tx`) is routed by deferred-transaction.ts.
 */
import postgres from "postgres";
import type { Clock } from "../../clock.js";
import { StorageError } from "../../errors.js";
import { withTimeout } from "../../timeout.js";

/** postgres.js codes for a connection that is gone, and socket errors that mean the same. */
const LOST_CODES: ReadonlySet<string> = new Set([
  "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNREFUSED",
]);

/** Whether `err` means the connection itself is gone (closed, reset, or ended by the server with FATAL). */
export function isConnectionLoss(err: unknown): boolean {
  const { code, severity } = (err ?? {}) as { code?: unknown; severity?: unknown };
  return (typeof code === "string" && LOST_CODES.has(code)) || severity === "FATAL" || severity === "PANIC";
}

/** The longest wait, in seconds, before a lost connection of a jobgraph pool is opened again. */
const RECONNECT_CAP_SECONDS = 1;

/**
 * postgres.js `backoff`: seconds before a closed connection reconnects for the query waiting on it,
 * after `retries` failures in a row across the pool. The default grows to 20 s (3^retries / 100),
 * so after a burst of killed connections a statement (a BEGIN, a claim) could wait 10-20 s for its
 * connection although the server answers again. Doubling from 50 ms, jittered, capped at 1 s.
 */
export function reconnectBackoffSeconds(retries: number): number {
  return Math.min(RECONNECT_CAP_SECONDS, 0.05 * 2 ** Math.max(0, retries)) * (0.5 + Math.random() / 2);
}

/**
 * Whether `sql` (a pool, transaction or reserved connection) is postgres.js 4 or later. The store's
 * own pool is made by the installed `postgres` (3.4 or 4), and an application may hand over either
 * major as `sql` or `tx`. Told by `batch`, which 4 added to every handle.
 */
export function isVersion4(sql: postgres.ISql<{}>): boolean {
  return typeof (sql as { batch?: unknown }).batch === "function";
}

/**
 * A list of strings (or nulls) as one parameter to cast with `::text[]`: a PostgreSQL array literal,
 * sent as a plain string, so it means the same to postgres.js 3.4 and 4 whatever types the
 * connection has loaded. (postgres.js 3.4 serialises a JS array only once it knows the array types,
 * which it loads on a connection's first query, and not at all with `fetch_types: false`: it would
 * send `a,b` and the server refuse it; postgres.js 4 removed `sql.array`.) Every element is quoted,
 * with `\` and `"` escaped; `null` is SQL NULL.
 */
export function textArray(values: readonly (string | null)[]): string {
  // Most lists (ids, tokens, kinds) hold no null and nothing to escape: one join then, no string per element.
  if (values.every((v) => v !== null && !NEEDS_ESCAPE.test(v))) return values.length === 0 ? "{}" : `{"${values.join('","')}"}`;
  let literal = "{";
  // A column of a batch often repeats one value (a type, a backoff's JSON): it is quoted once.
  let previous: string | null = null;
  let quoted = "NULL";
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as string | null;
    if (i > 0) literal += ",";
    if (v !== previous) {
      previous = v;
      // Most elements (ids, numbers, statuses) need no escape: testing first halves their cost.
      quoted = v === null ? "NULL" : NEEDS_ESCAPE.test(v) ? `"${v.replace(ESCAPED, "\\$&")}"` : `"${v}"`;
    }
    literal += quoted;
  }
  return `${literal}}`;
}

const NEEDS_ESCAPE = /[\\"]/;
const ESCAPED = /[\\"]/g;

/**
 * What another postgres.js instance needs to reach the server `sql` (a pool of postgres.js 3.4 or 4)
 * talks to, for this store's `postgres` to make it (as the change feed's connection), whichever
 * major that is: the settings both majors name alike (hosts, ports, credentials, ssl, timeouts,
 * `connection`), without `shared`, which marks options as already parsed and holds one major's state
 * (given 3.4's parsed options, postgres.js 4 runs without its timers and fails), and without the
 * pool's type handling (custom types by name need `fetch_types`, which such a connection turns off).
 */
export function connectionOptionsOf(sql: postgres.Sql): Record<string, unknown> {
  const {
    shared: _parsed, parsers: _parsers, serializers: _serializers, types: _types, shared_types: _sharedTypes, ...settings
  } = sql.options as unknown as Record<string, unknown>;
  return settings;
}

/** A promise that never settles: what a transaction callback returns once its connection is gone. */
export function never(): Promise<never> {
  return new Promise<never>(() => undefined);
}

/**
 * `sql.begin(work)`, except when the connection dies under `work`: then it rejects with that
 * error and the callback never settles, so postgres.js does not write ROLLBACK to the dead
 * connection. (postgres.js 3.4.9 schedules that write for after the socket is gone and then
 * throws an uncaught TypeError from `nextWrite`, which would take the whole process down;
 * porsager/postgres#1154, #1208.) The server rolls back a transaction whose session ended.
 *
 * Always READ COMMITTED, whatever the server's, database's or role's default: the store's
 * transactions rely on each statement taking a fresh snapshot (a settle's unblock must see an edge
 * that an insert it waited for committed after the transaction began). Under REPEATABLE READ such a
 * dependent stayed blocked for good.
 */
export function beginGuarded<T>(sql: postgres.Sql, work: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  let lost: (err: unknown) => void = () => undefined;
  const connectionLost = new Promise<never>((_, reject) => (lost = reject));
  const begun = sql.begin("isolation level read committed", async (tx) => {
    try {
      return await work(tx);
    } catch (err) {
      if (!isConnectionLoss(err)) throw err;
      lost(err);
      return never();
    }
  }) as Promise<T>;
  // Once the connection closes, postgres.js rejects `begun` too; that rejection is already reported.
  begun.catch(() => undefined);
  return Promise.race([begun, connectionLost]);
}

/**
 * Once the pool has loaded the array types, its connections need not load them again.
 * postgres.js loads them with a query on every (re)connection of the pool, before the statement
 * the connection was opened for; a connection killed during that query is left in its connecting
 * state with the statement never answered, or the query's rejection goes unhandled and ends the
 * process (postgres.js 3.4.9). The types are kept on the pool's shared options, so one load serves
 * every later connection: from then on a reconnect sends only its own statement. Only a load that
 * really happened counts: a call can succeed without any statement (or on a connection opened
 * before), and a pool without the types serializes arrays as plain text and parses them as strings.
 * A postgres.js 4 pool keeps no types on its options (nothing changes): it loads them once per pool,
 * for the first statement that needs them, and retries a load that failed.
 */
export function typesLoaded(sql: postgres.Sql): void {
  const options = sql.options as { fetch_types: boolean; shared?: { typeArrayMap?: Record<number, number> } };
  const loaded = Object.keys(options.shared?.typeArrayMap ?? {}).length > 0;
  if (options.fetch_types && loaded) options.fetch_types = false;
}

/**
 * An application's postgres.js pool as `PostgresStorage({ sql })` takes it: a postgres.js 3.4 or 4
 * `Sql` fits. Written as the shape jobgraph relies on, not as either version's type, so the published
 * types need neither version installed and accept the one the application has. The store then uses
 * it as it uses its own pool; where the versions differ (see `isVersion4`), this file tells them apart.
 */
export interface PostgresSql {
  (template: TemplateStringsArray, ...parameters: never[]): PromiseLike<unknown>;
  begin(...args: never[]): PromiseLike<unknown>;
  unsafe(...args: never[]): PromiseLike<unknown>;
  end(...args: never[]): PromiseLike<unknown>;
  readonly options: object;
}

/** The application's pool as the store's code sees it: postgres.js 4 keeps 3.4's API apart from the differences handled here. */
export function asDriverSql(sql: PostgresSql): postgres.Sql {
  return sql as unknown as postgres.Sql;
}

/** How a store's pool is made and bounded (see `PostgresStorageOptions`). */
export interface PoolSettings {
  readonly connectionString: string | undefined;
  /** The application's own pool: used as it is, never replaced nor ended. */
  readonly sql: postgres.Sql | undefined;
  readonly max: number;
  readonly idleInTransactionTimeoutMs: number;
  /** How long one call may go unanswered before it fails and the pool is replaced; 0: no bound. */
  readonly callTimeoutMs: number;
}

/**
 * The postgres.js pool of one store, and everything about it: its options, the count of its
 * closed connections, a deadline on every call, and its replacement by a fresh pool when a call
 * went unanswered (a half-open connection never errors by itself, and postgres.js 3.4.9 can leave
 * a call waiting for good after a connection was killed). The array types a pool loaded are handed
 * to its successor, so a replacement never loads them again under fire (see `typesLoaded`).
 */
export class Pool {
  private current: postgres.Sql;
  private readonly open: (() => postgres.Sql) | undefined;
  private closed = 0;
  private ended = false;

  constructor(private readonly settings: PoolSettings) {
    const { connectionString, sql, max, idleInTransactionTimeoutMs } = settings;
    // No JIT: the planner's cost estimate of a settle's lock query grows with the tables, and past
    // jit_above_cost every settle would be compiled first (seconds each at 100,000 jobs) to run in milliseconds.
    const options = {
      max,
      onnotice: () => undefined,
      onclose: () => void this.closed++,
      backoff: reconnectBackoffSeconds,
      // READ COMMITTED for single statements too (see `beginGuarded`): under REPEATABLE READ a claim
      // meeting a row updated since its snapshot fails with a serialization error instead of skipping it.
      connection: {
        application_name: "jobgraph", jit: "off", idle_in_transaction_session_timeout: idleInTransactionTimeoutMs,
        default_transaction_isolation: "read committed",
      },
    };
    this.open = sql !== undefined ? undefined : () => (connectionString === undefined ? postgresOf(options) : postgresOf(connectionString, options));
    this.current = sql ?? (this.open as () => postgres.Sql)();
    if (sql !== undefined) this.countClosesOf(sql);
  }

  /** The pool to send statements to now. */
  get sql(): postgres.Sql {
    return this.current;
  }

  /** Whether this store made the pool (and so may replace and end it). */
  get owned(): boolean {
    return this.open !== undefined;
  }

  /** How many connections of this store's pools postgres.js reported closed so far. */
  get closes(): number {
    return this.closed;
  }

  /**
   * One call of the store, on the current pool: a `StorageError` once it has gone unanswered for
   * `callTimeoutMs` (the pool is then replaced, failing what still waits on the old one). After a
   * success, the pool stops loading array types once it has them.
   */
  async run<T>(work: (sql: postgres.Sql) => Promise<T>, what: string, bounded = true): Promise<T> {
    const sql = this.current;
    const value = await (bounded ? this.within(work(sql), what, sql) : work(sql));
    if (this.owned) typesLoaded(sql);
    return value;
  }

  /**
   * Replaces the pool with a fresh one and destroys the old one's sockets, failing what still
   * waits on them. An application's pool is its own to manage and is left alone.
   */
  replace(): void {
    if (this.ended || this.open === undefined) return;
    const stale = this.current;
    this.current = this.open();
    carryArrayTypes(stale, this.current);
    void stale.end({ timeout: 0 }).catch(() => undefined);
  }

  /** Ends the pool this store made (waiting up to `timeoutSeconds` for what runs on it). */
  async end(timeoutSeconds: number): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    if (this.open !== undefined) await this.current.end({ timeout: timeoutSeconds });
  }

  /** `work` (running on `sql`, the current pool by default), failed once unanswered for `callTimeoutMs`; the pool is then replaced. */
  within<T>(work: Promise<T>, what: string, sql: postgres.Sql = this.current): Promise<T> {
    const ms = this.settings.callTimeoutMs;
    if (ms === 0) return work;
    // A late failure of the abandoned call is not news.
    work.catch(() => undefined);
    // One more turn after `ms` (extraTurn): after the process itself stood still (a long GC or CPU
    // burst, SIGSTOP), the timer fires before the answer already waiting on the socket has been read.
    return withTimeout(
      unrefClock,
      work,
      ms,
      () => {
        if (sql === this.current) this.replace();
        return new StorageError(`${what}: no answer from PostgreSQL within ${ms} ms; the connection pool was replaced`);
      },
      true,
    );
  }

  /** Counts the closes of an application's pool too, keeping the application's own `onclose`. */
  private countClosesOf(sql: postgres.Sql): void {
    const options = sql.options as { onclose?: (connId: number) => void } | undefined;
    if (options === undefined) return;
    const previous = options.onclose;
    options.onclose = (connId) => {
      this.closed++;
      previous?.(connId);
    };
  }
}

/** Real time, its timers unref'd: a call deadline alone must not keep the process alive. */
const unrefClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

/** `postgres(...)`, typed for the options a Pool passes. */
const postgresOf = postgres as unknown as (...args: unknown[]) => postgres.Sql;

/** The shared type state postgres.js 3.4 keeps on a pool's options (4 keeps none there). */
interface TypeState {
  fetch_types: boolean;
  shared?: { typeArrayMap?: Record<number, number> };
  parsers: Record<number, unknown>;
  serializers: Record<number, unknown>;
}

/**
 * Hands the array types `from` loaded to `to` (a pool that has not connected yet), so `to` never
 * loads them itself: a connection killed during that load can hang its statement for good or end
 * the process (porsager/postgres#1192, postgres.js 3.4.9).
 */
function carryArrayTypes(from: postgres.Sql, to: postgres.Sql): void {
  const source = from.options as unknown as TypeState;
  const target = to.options as unknown as TypeState;
  // A postgres.js 4 pool keeps its types elsewhere (its `shared` holds no `typeArrayMap`), loads them
  // once per pool and only for a statement that needs them: it has nothing to hand over.
  if (source.shared?.typeArrayMap === undefined || target.shared?.typeArrayMap === undefined) return;
  const arrays = Object.entries(source.shared.typeArrayMap);
  if (arrays.length === 0) return;
  for (const [oid, typarray] of arrays) {
    target.shared.typeArrayMap[Number(oid)] = typarray;
    if (source.parsers[typarray] !== undefined) target.parsers[typarray] = source.parsers[typarray];
    if (source.serializers[typarray] !== undefined) target.serializers[typarray] = source.serializers[typarray];
  }
  target.fetch_types = false;
}
