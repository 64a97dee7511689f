import type postgres from "postgres";
import { AttemptFinishedError, StorageError, ValidationError } from "../../errors.js";
import type { AttemptTransaction, Lease, Outcome, SettleResult } from "../storage.js";
import { deferredTransaction } from "./deferred-transaction.js";
import { beginGuarded, isConnectionLoss } from "./driver.js";

/**
 * What a handler sees as `ctx.tx` with PostgresStorage: the postgres.js transaction of the attempt,
 * opened on first use and committed together with the job's completion (or not at all).
 */
export type AttemptSql = postgres.TransactionSql;

/** Every handle made by PostgresAttemptTransaction, so `attemptSql` can tell one from anything else. */
const handles = new WeakSet<object>();

/**
 * The handler's `ctx.tx`, typed: the postgres.js `TransactionSql` of the attempt, whose statements
 * commit together with the job's completion (or not at all). Throws a `ValidationError` when the
 * job does not run on PostgresStorage.
 */
export function attemptSql(ctx: { readonly tx: unknown }): AttemptSql {
  const tx = ctx.tx;
  if (typeof tx !== "function" || !handles.has(tx)) {
    throw new ValidationError("ctx.tx is a PostgreSQL transaction only when the job runs on PostgresStorage", [
      { path: "ctx.tx", message: "this job's queue does not use PostgresStorage" },
    ]);
  }
  return tx as AttemptSql;
}

/** Settles inside a transaction; `lost` makes the attempt transaction roll back. */
export type SettleInTransaction = (tx: postgres.TransactionSql, lease: Lease, outcome: Outcome) => Promise<{ result: SettleResult; publish: () => void }>;

type Instruction = { readonly type: "commit"; readonly outcome: Outcome } | { readonly type: "rollback" };

/**
 * How long an attempt transaction's BEGIN may go unanswered, once a connection of the pool closed
 * meanwhile, before the pool counts as stuck. postgres.js can leave a connection that was killed
 * while it was being opened in its "connecting" state for good, with the statement it was opened for
 * never answered; without a close, a BEGIN may legitimately wait that long for a free connection.
 */
const BEGIN_STALL_MS = 5_000;

/** Thrown inside the transaction to roll it back; never escapes. */
class RollbackSignal extends Error {}

/** An attempt-bound transaction on a postgres.js pool; see `Storage.openAttemptTransaction`. */
export class PostgresAttemptTransaction implements AttemptTransaction {
  /** Made on first read (`ctx.tx`): most handlers never use it, and it is several closures to make. */
  private madeHandle: AttemptSql | undefined;
  private tx: Promise<postgres.TransactionSql> | undefined;
  private finished: Promise<{ result: SettleResult; publish: () => void } | undefined> | undefined;
  private finish: ((instruction: Instruction) => void) | undefined;
  private closed = false;
  /** Set once the handler returned: from then on its handle refuses statements. */
  private sealed = false;
  /**
   * Set once the transaction's connection is known to be gone (a handler's query failed with it, or
   * postgres.js reported the close): nothing more may be written to it. postgres.js hands a later
   * statement to the closed connection object, where it either throws from a timer or rides along a
   * reconnect and never settles, so it must not be sent at all.
   */
  private connectionLoss: unknown;
  /** `connectionCloses()` when this transaction last knew its own connection to be open. */
  private closesSeen = 0;
  /** Set when BEGIN was given up on (see BEGIN_STALL_MS): the transaction never opened for the handler. */
  private stalled = false;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly lease: Lease,
    /** How many connections of the pool have closed so far (postgres.js `onclose`). */
    private readonly connectionCloses: () => number,
    /** Called when BEGIN went unanswered after a close: the pool should be replaced. */
    private readonly onStall: () => void,
    /** Bounds the commit like every other call of the store (a StorageError once unanswered, the pool replaced). */
    private readonly bound: <T>(work: Promise<T>, what: string) => Promise<T>,
    private readonly settleIn: SettleInTransaction,
    /** The plain settle, for a commit when the handler never used the transaction. */
    private readonly settleAlone: (lease: Lease, outcome: Outcome) => Promise<SettleResult>,
  ) {}

  /** The handler's `ctx.tx`: statements open the transaction on first use. */
  get handle(): AttemptSql {
    if (this.madeHandle === undefined) {
      this.madeHandle = deferredTransaction(this.sql, {
        open: () => this.open(),
        failed: (err) => {
          if (isConnectionLoss(err)) this.connectionLoss ??= err;
        },
      });
      handles.add(this.madeHandle);
    }
    return this.madeHandle;
  }

  seal(): void {
    this.sealed = true;
  }

  get opened(): boolean {
    return this.tx !== undefined;
  }

  async commit(outcome: Outcome, _now?: Date): Promise<SettleResult> {
    if (this.closed) throw new StorageError("the attempt transaction is already finished");
    this.closed = true;
    if (this.tx === undefined || this.finish === undefined || this.finished === undefined) {
      return this.settleAlone(this.lease, outcome);
    }
    // Wait until the transaction has begun, so the instruction reaches its callback.
    await this.tx.catch(() => undefined);
    await this.noticeCloses();
    if (this.stalled) throw new StorageError("the attempt transaction never opened; nothing of it was committed");
    this.finish({ type: "commit", outcome });
    try {
      const done = await this.bound(this.finished, "commit of the attempt transaction");
      if (done === undefined) return { type: "lost", jobId: this.lease.jobId };
      done.publish();
      return done.result;
    } catch (err) {
      throw new StorageError("the attempt transaction failed to commit", err);
    }
  }

  async rollback(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tx === undefined || this.finish === undefined || this.finished === undefined) return;
    await this.tx.catch(() => undefined);
    await this.noticeCloses();
    this.finish({ type: "rollback" });
    // A BEGIN given up on may never answer: the rollback is already its instruction if it ever does.
    if (this.stalled) return;
    // Whatever went wrong inside, nothing of it was committed.
    await this.finished.catch(() => undefined);
  }

  /**
   * The transaction, for a statement of the handler: opened on first use; refused once the handler
   * returned or the attempt was finished (a statement then would open a transaction nobody ends,
   * or slip into the commit), and once its connection is known to be gone.
   */
  private async open(): Promise<postgres.TransactionSql> {
    this.assertUsable();
    const tx = await this.begin();
    await this.noticeCloses();
    this.assertUsable();
    return tx;
  }

  private assertUsable(): void {
    if (this.sealed || this.closed) throw new AttemptFinishedError(this.lease.jobId, this.lease.attempt);
    this.assertConnected();
  }

  /**
   * When any connection of the pool closed since this transaction last looked, waits for the rest of
   * that close's turn of the event loop: postgres.js reports it to the transaction that owned the
   * connection only a few promise steps later, and a statement issued before then would be sent.
   */
  private async noticeCloses(): Promise<void> {
    while (this.closesSeen !== this.connectionCloses()) {
      this.closesSeen = this.connectionCloses();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Rejects when BEGIN (`began`) has not answered within BEGIN_STALL_MS of a connection of the pool
   * closing, and asks for the pool to be replaced; never settles otherwise. The late BEGIN, should
   * it ever answer, finds a rollback as its instruction.
   */
  private stallOf(began: Promise<unknown>, closesAtBegin: number): Promise<never> {
    return new Promise<never>((_, reject) => {
      let answered = false;
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        if (answered) return;
        if (this.connectionCloses() === closesAtBegin) {
          timer = setTimeout(check, BEGIN_STALL_MS).unref();
          return;
        }
        this.stalled = true;
        this.finish?.({ type: "rollback" });
        reject(new StorageError(`no answer to BEGIN within ${BEGIN_STALL_MS} ms after a connection of the pool closed`));
        this.onStall();
      };
      timer = setTimeout(check, BEGIN_STALL_MS).unref();
      const done = () => {
        answered = true;
        clearTimeout(timer);
      };
      began.then(done, done);
      this.finished?.then(done, done);
    });
  }

  private assertConnected(): void {
    if (this.connectionLoss !== undefined) {
      throw new StorageError("the attempt transaction's connection is gone; its writes were rolled back", this.connectionLoss);
    }
  }

  private begin(): Promise<postgres.TransactionSql> {
    if (this.tx !== undefined) return this.tx;
    this.closesSeen = this.connectionCloses();
    const instruction = new Promise<Instruction>((resolve) => (this.finish = resolve));
    let began: (tx: postgres.TransactionSql) => void = () => undefined;
    this.tx = new Promise<postgres.TransactionSql>((resolve) => (began = resolve));
    const finished = beginGuarded(this.sql, async (tx) => {
      began(tx);
      const next = await instruction;
      // A dead connection takes no ROLLBACK or settle; the server already rolled the transaction back.
      if (this.connectionLoss !== undefined) throw this.connectionLoss;
      if (next.type === "rollback") throw new RollbackSignal();
      const done = await this.settleIn(tx, this.lease, next.outcome);
      // A lost lease rolls back the handler's writes too: they belonged to an attempt that no longer counts.
      if (done.result.type === "lost") throw new RollbackSignal("lost");
      return done;
    });
    // The close rejects `finished` in the same turn as the socket event, before any later statement.
    finished.catch((err: unknown) => {
      if (isConnectionLoss(err)) this.connectionLoss ??= err;
    });
    this.finished = finished.then(
      (done) => done,
      (err: unknown) => {
        if (err instanceof RollbackSignal) return undefined;
        throw err;
      },
    );
    // Until commit or rollback awaits it, a failure must not surface as an unhandled rejection.
    this.finished.catch(() => undefined);
    const tx = this.tx;
    // If BEGIN itself fails, the handler's first query fails with it.
    this.tx = Promise.race([
      tx,
      finished.then(() => tx, (err: unknown) => Promise.reject(new StorageError("could not open the attempt transaction", err))),
      this.stallOf(tx, this.closesSeen),
    ]);
    this.tx.catch(() => undefined);
    return this.tx;
  }
}
