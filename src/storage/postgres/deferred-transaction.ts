import { readFile } from "node:fs/promises";
import type postgres from "postgres";
import { StorageError, ValidationError } from "../../errors.js";

// How `ctx.tx` reaches the attempt's transaction: postgres.js internals (a query's `handler`), the one
// other place beside driver.ts that knows them.

/** The parts of a postgres.js query object (3.4 and 4 alike) that `deferredTransaction` reroutes. */
interface QueryInternals {
  handler: (query: QueryInternals) => void;
  reject: (err: unknown) => void;
  strings: readonly string[];
  catch: Promise<unknown>["catch"];
  then: Promise<unknown>["then"];
  /** postgres.js 4: sends the cancel request, answering its promise. */
  cancel(): unknown;
  /** postgres.js 3.4: what `cancel()` calls, answering the promise `cancel()` drops. */
  canceller?: ((query: QueryInternals) => unknown) | null;
}

/** A statement `deferredTransaction` handed to the transaction: it can be cancelled while it runs. */
export interface SentStatement {
  /**
   * Asks the server to cancel the statement if it still runs (it then fails with 57014). Settles
   * (never rejects) once the cancel request was delivered, or failed: until then it may still reach
   * whatever statement the connection runs next.
   */
  cancel(): Promise<void>;
  /** Settles (never rejects) once the statement is answered or failed. */
  readonly done: Promise<void>;
}

/** Where the statements of a `deferredTransaction` go. */
export interface DeferredTransactionHost {
  /** The transaction once it may take a statement (opened on first use); rejects to refuse the statement. */
  open(): Promise<postgres.TransactionSql>;
  /** Called with every failure of a statement or savepoint sent in the transaction. */
  failed(err: unknown): void;
  /** Called with every statement as it is handed to the transaction (not those inside a savepoint). */
  sent(statement: SentStatement): void;
}

/**
 * A postgres.js `TransactionSql` whose transaction is opened only when its first statement runs.
 * Statements are built by the pool's own `sql` (so every helper, modifier, cursor and fragment
 * behaves as postgres.js has it) and, when they run, handed to the real transaction instead of the
 * pool. postgres.js has no public way to do so: this relies on a query's `handler` field and on
 * the transaction's handler being the `handler` of the queries it makes (postgres.js 3.4.9 and 4.2).
 * `prepare` (two-phase commit) is refused: the transaction is committed together with the job.
 */
export function deferredTransaction(pool: postgres.Sql, host: DeferredTransactionHost): postgres.TransactionSql {
  const route = <Q>(made: Q, beforeRun?: (query: QueryInternals) => Promise<void>): Q => {
    const query = made as unknown as QueryInternals;
    // postgres.js 4 reads the pool's options (and debug, cancel) off the handler when it builds the
    // query; the replacement keeps them, as postgres.js's own `file` does with its handler.
    query.handler = Object.assign((running: QueryInternals) => {
      void (async () => {
        const tx = await host.open();
        await beforeRun?.(running);
        running.catch((err: unknown) => host.failed(err));
        host.sent({ cancel: () => cancelStatement(running), done: running.then(() => undefined, () => undefined) });
        handlerOf(tx)(running);
      })().catch((err: unknown) => running.reject(err));
    }, query.handler);
    return made;
  };
  const tagged = (first: unknown, ...rest: unknown[]): unknown => {
    const made = (pool as unknown as (...args: unknown[]) => unknown)(first, ...rest);
    return Array.isArray((first as { raw?: unknown } | null)?.raw) ? route(made) : made;
  };
  const handle = Object.assign(tagged, {
    types: pool.types,
    typed: pool.typed,
    // 3.4's `sql.array`; 4's throws that it was removed, as 4's own transactions' does.
    array: (...args: unknown[]) => (pool as unknown as { array(...values: unknown[]): unknown }).array(...args),
    json: pool.json.bind(pool),
    unsafe: (...args: Parameters<postgres.Sql["unsafe"]>) => route(pool.unsafe(...args)),
    file: (path: string, args?: unknown, options?: unknown) => {
      const [parameters, queryOptions] = Array.isArray(args) ? [args, options] : [[], args];
      // The pool's `file` reads the file in a handler of its own; read it here, then run it as `unsafe`.
      const fileOptions = (queryOptions ?? {}) as Record<string, unknown>;
      const made = pool.unsafe("", parameters as postgres.ParameterOrJSON<never>[], {
        prepare: true,
        ...fileOptions,
        simple: "simple" in fileOptions ? fileOptions.simple : parameters.length === 0,
      } as postgres.UnsafeQueryOptions);
      return route(made, async (query) => {
        query.strings = [await readFile(path, "utf8")];
      });
    },
    // NOTIFY inside the transaction, so listeners hear of the handler's writes only if they commit.
    notify: (channel: string, payload: string) => route(pool`select pg_notify(${channel}, ${String(payload)})`),
    savepoint: (...args: unknown[]) =>
      host.open().then((tx) => {
        const done = (tx.savepoint as (...a: unknown[]) => Promise<unknown>)(...args);
        done.catch((err: unknown) => host.failed(err));
        return done;
      }),
    prepare: () => Promise.reject(new ValidationError("ctx.tx cannot be prepared for two-phase commit: it commits with the job's completion")),
  });
  return handle as unknown as postgres.TransactionSql;
}

/**
 * Cancels a running statement. postgres.js 3.4's `cancel()` drops the promise of its cancel request,
 * which rejects (unhandled) when the server cannot be reached: its `canceller` is called here
 * instead, once, as `cancel()` would, so that the failure can be caught.
 */
function cancelStatement(query: QueryInternals): Promise<void> {
  let request: unknown;
  try {
    if (typeof query.canceller === "function") {
      const canceller = query.canceller;
      query.canceller = null;
      request = canceller(query);
    } else if (query.canceller === undefined) {
      request = query.cancel();
    }
  } catch {
    return Promise.resolve();
  }
  return Promise.resolve(request).then(
    () => undefined,
    () => undefined,
  );
}

const transactionHandlers = new WeakMap<postgres.TransactionSql, (query: QueryInternals) => void>();

/** The handler a transaction hands its own queries to (see `deferredTransaction`), read off a query it made and never runs. */
function handlerOf(tx: postgres.TransactionSql): (query: QueryInternals) => void {
  const known = transactionHandlers.get(tx);
  if (known !== undefined) return known;
  const probe = tx.unsafe("") as unknown as Partial<QueryInternals>;
  if (typeof probe.handler !== "function") throw new StorageError("this postgres.js version does not expose a query's handler; ctx.tx needs postgres.js 3.4 or 4");
  transactionHandlers.set(tx, probe.handler);
  return probe.handler;
}
