import type postgres from "postgres";
import { AttemptFinishedError, StorageError, ValidationError } from "../../errors.js";
import type { JobRecord } from "../../types.js";
import type { AttemptTransaction, Lease, Outcome, SettleResult, Settlement } from "../storage.js";
import { deferredTransaction, type SentStatement } from "./deferred-transaction.js";
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

/**
 * Settles inside a transaction; `lost` makes the attempt transaction roll back. `answered` tells that
 * the server answered a piece of a settle waiting for a lock: the connection lives, and the commit's
 * deadline starts again.
 */
export type SettleInTransaction = (tx: postgres.TransactionSql, settlement: Settlement, answered: () => void) => Promise<Committed>;

/** A settle inside the attempt transaction: its result, and the changes to publish once it committed. */
type Committed = { result: SettleResult; publish: () => void };

type Instruction = { readonly type: "commit"; readonly outcome: Outcome; readonly job: JobRecord | undefined } | { readonly type: "rollback" };

/** The settlement of the attempt's `outcome`, with its job as claimed when the caller gave it (no read back then). */
function settlementOf(lease: Lease, outcome: Outcome, job: JobRecord | undefined): Settlement {
  return job === undefined ? { lease, outcome } : { lease, outcome, job };
}

/**
 * How long an attempt transaction's BEGIN may go unanswered, once a connection of the pool closed
 * meanwhile, before the pool counts as stuck. postgres.js can leave a connection that was killed
 * while it was being opened in its "connecting" state for good, with the statement it was opened for
 * never answered; without a close, a BEGIN may legitimately wait that long for a free connection.
 */
const BEGIN_STALL_MS = 5_000;

/**
 * How long a rollback lets the handler's statements still running finish before it cancels them.
 * The rollback goes on the transaction's connection after them, and the settle of the attempt's
 * outcome may wait for a row the transaction holds: a statement that waits for a lock, or runs
 * long, would hold both up. Most statements end within it, and need no cancel request.
 */
const STATEMENT_CANCEL_GRACE_MS = 100;


/** Thrown inside the transaction to roll it back; never escapes. */
class RollbackSignal extends Error {}

/**
 * What became of a transaction's BEGIN: no answer yet, answered (or failed), or given up on after
 * a connection of the pool closed (see BEGIN_STALL_MS). Only `watchBegin` moves it, once.
 */
type BeginState = "unanswered" | "answered" | "given-up";

/** The postgres.js transaction of an attempt, from the moment a statement of its handler sent BEGIN. */
interface Begun {
  /** The transaction, for the handler's statements; rejects when BEGIN failed or was given up on. */
  readonly tx: Promise<postgres.TransactionSql>;
  /** Hands the transaction callback its one instruction; a later call changes nothing. */
  readonly finish: (instruction: Instruction) => void;
  /** How the transaction ended: the settle when committed, undefined when rolled back. */
  readonly finished: Promise<Committed | undefined>;
  begin: BeginState;
  /** Called when a piece of the settle waiting for a lock was answered (see `boundWhileAnswered`). */
  answered: () => void;
}

/**
 * Where an attempt transaction is in its life: unopened -first statement-> open -seal-> sealed
 * -commit or rollback-> ended, seal and the end also straight from an earlier state. Each move is
 * one method: `usable`, `seal`, `end`. A BEGIN given up on is a fact of its `Begun`, not a state
 * here: it happens on the pool's time, whichever of open, sealed or ended the attempt is in.
 */
type AttemptState =
  /** The handler runs and has sent no statement: its first one sends BEGIN. */
  | { readonly kind: "unopened" }
  /** The handler runs, its statements going to the transaction. */
  | { readonly kind: "open"; readonly begun: Begun }
  /** The handler returned: statements are refused; commit or rollback ends the transaction, if it has one. */
  | { readonly kind: "sealed"; readonly begun: Begun | undefined }
  /** Commit or rollback was called: statements and a second commit are refused. */
  | { readonly kind: "ended"; readonly begun: Begun | undefined };

/** The transaction the attempt began, in whichever state it is now. */
function begunOf(state: AttemptState): Begun | undefined {
  return state.kind === "unopened" ? undefined : state.begun;
}

/** An attempt-bound transaction on a postgres.js pool; see `Storage.openAttemptTransaction`. */
export class PostgresAttemptTransaction implements AttemptTransaction {
  /** Made on first read (`ctx.tx`): most handlers never use it, and it is several closures to make. */
  private madeHandle: AttemptSql | undefined;
  private state: AttemptState = { kind: "unopened" };
  /**
   * Set once the transaction's connection is known to be gone (a handler's query failed with it, or
   * postgres.js reported the close): nothing more may be written to it. postgres.js hands a later
   * statement to the closed connection object, where it either throws from a timer or rides along a
   * reconnect and never settles, so it must not be sent at all. Kept beside the state, not in it:
   * postgres.js tells it whenever it learns it, in any state (the transaction callback still reads
   * it once commit or rollback was called), and it moves no step of the lifecycle, only refuses writes.
   */
  private connectionLoss: unknown;
  /** `connectionCloses()` when this transaction last knew its own connection to be open. */
  private closesSeen = 0;
  /** The handler's statements sent to the transaction and not yet answered. */
  private readonly running = new Set<SentStatement>();

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
    private readonly settleAlone: (settlement: Settlement) => Promise<SettleResult>,
    /** Sends the statement that marks the transaction as this attempt's, without waiting for it. */
    private readonly mark: (tx: postgres.TransactionSql, lease: Lease) => void,
  ) {}

  /** The handler's `ctx.tx`: statements open the transaction on first use. */
  get handle(): AttemptSql {
    if (this.madeHandle === undefined) {
      this.madeHandle = deferredTransaction(this.sql, {
        open: () => this.open(),
        failed: (err) => {
          if (isConnectionLoss(err)) this.connectionLoss ??= err;
        },
        sent: (statement) => {
          this.running.add(statement);
          void statement.done.then(() => this.running.delete(statement));
        },
      });
      handles.add(this.madeHandle);
    }
    return this.madeHandle;
  }

  seal(): void {
    const { state } = this;
    if (state.kind === "unopened" || state.kind === "open") this.state = { kind: "sealed", begun: begunOf(state) };
  }

  get opened(): boolean {
    return begunOf(this.state) !== undefined;
  }

  async commit(outcome: Outcome, _now?: Date, job?: JobRecord): Promise<SettleResult> {
    const from = this.end();
    if (from.kind === "ended") throw new StorageError("the attempt transaction is already finished");
    const begun = begunOf(from);
    if (begun === undefined) return this.settleAlone(settlementOf(this.lease, outcome, job));
    // Wait until the transaction has begun, so the instruction reaches its callback.
    await begun.tx.catch(() => undefined);
    await this.noticeCloses();
    if (begun.begin === "given-up") throw new StorageError("the attempt transaction never opened; nothing of it was committed");
    begun.finish({ type: "commit", outcome, job });
    try {
      const done = await this.boundWhileAnswered(begun, "commit of the attempt transaction");
      if (done === undefined) return { type: "lost", jobId: this.lease.jobId };
      done.publish();
      return done.result;
    } catch (err) {
      // The SQLSTATE says why (a deferred constraint of the handler's writes: 23503, a serialization
      // failure: 40001); the driver's text stays in the cause, as for every driver error.
      const code = (err as { code?: unknown } | null)?.code;
      throw new StorageError(`the attempt transaction failed to commit${typeof code === "string" ? ` (${code})` : ""}`, err);
    }
  }

  /**
   * `begun.finished` under the call deadline, which starts again each time a piece of the settle
   * waiting for a lock is answered (`Begun.answered`): a wait in pieces is not a silent connection.
   */
  private async boundWhileAnswered(begun: Begun, what: string): Promise<Committed | undefined> {
    const finished = begun.finished.then((done) => ({ done }));
    for (;;) {
      const piece = new Promise<"answered">((resolve) => (begun.answered = () => resolve("answered")));
      const first = await this.bound(Promise.race([finished, piece]), what);
      if (first !== "answered") return first.done;
    }
  }

  async rollback(): Promise<void> {
    const from = this.end();
    if (from.kind === "ended") return;
    const begun = begunOf(from);
    if (begun === undefined) return;
    await begun.tx.catch(() => undefined);
    await this.noticeCloses();
    begun.finish({ type: "rollback" });
    // A BEGIN given up on may never answer: the rollback is already its instruction if it ever does.
    if (begun.begin === "given-up") return;
    const ended = begun.finished.then(
      () => undefined,
      () => undefined,
    );
    // Whatever went wrong inside, nothing of it was committed. Bounded as the commit is: on a
    // connection that stopped answering, the pool is replaced, which ends the transaction.
    await this.bound(ended, "rollback of the attempt transaction").catch(() => undefined);
  }

  /**
   * Before ROLLBACK: lets the handler's statements still running end for STATEMENT_CANCEL_GRACE_MS,
   * then cancels the rest and waits until the cancel requests were delivered or failed. A cancel
   * request travels on a connection of its own, and one delivered late would cancel whatever the
   * connection runs by then: after ROLLBACK, a statement of another transaction of the pool. So the
   * connection goes back to the pool only after; the rollback's own wait is bounded by the call
   * deadline (`rollback`), this one by the driver's (postgres.js 4: `cancel_timeout`; 3.4: the
   * cancel's connection closing or failing).
   */
  private async stopRunningStatements(): Promise<void> {
    if (this.running.size === 0) return;
    const allEnded = Promise.all([...this.running].map((statement) => statement.done)).then(() => true);
    if (await Promise.race([allEnded, delay(STATEMENT_CANCEL_GRACE_MS, false)])) return;
    await Promise.all([...this.running].map((statement) => statement.cancel()));
  }

  /** Commit or rollback: the attempt transaction takes nothing more. Answers the state it ended from. */
  private end(): AttemptState {
    const from = this.state;
    this.state = { kind: "ended", begun: begunOf(from) };
    return from;
  }

  /**
   * The transaction, for a statement of the handler: opened on first use; refused once the handler
   * returned or the attempt was finished (a statement then would open a transaction nobody ends,
   * or slip into the commit), and once its connection is known to be gone.
   */
  private async open(): Promise<postgres.TransactionSql> {
    const tx = await this.usable().tx;
    await this.noticeCloses();
    this.usable();
    return tx;
  }

  /** The transaction a statement may use now (BEGIN sent by the first); throws when none may. */
  private usable(): Begun {
    const { state } = this;
    if (state.kind === "sealed" || state.kind === "ended") throw new AttemptFinishedError(this.lease.jobId, this.lease.attempt);
    this.assertConnected();
    if (state.kind === "open") return state.begun;
    const begun = this.begin();
    this.state = { kind: "open", begun };
    return begun;
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
   * Gives up on BEGIN (`answered`) when it has not answered within BEGIN_STALL_MS of a connection
   * of the pool closing: fails the handler's statements with `giveUp`, and asks for the pool to be
   * replaced; never does otherwise. The late BEGIN, should it ever answer, finds a rollback as its
   * instruction.
   */
  private watchBegin(begun: Begun, answered: Promise<unknown>, closesAtBegin: number, giveUp: (err: StorageError) => void): void {
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      if (begun.begin !== "unanswered") return;
      if (this.connectionCloses() === closesAtBegin) {
        timer = setTimeout(check, BEGIN_STALL_MS).unref();
        return;
      }
      begun.begin = "given-up";
      begun.finish({ type: "rollback" });
      giveUp(new StorageError(`no answer to BEGIN within ${BEGIN_STALL_MS} ms after a connection of the pool closed`));
      this.onStall();
    };
    timer = setTimeout(check, BEGIN_STALL_MS).unref();
    const done = () => {
      if (begun.begin === "unanswered") begun.begin = "answered";
      clearTimeout(timer);
    };
    answered.then(done, done);
    begun.finished.then(done, done);
  }

  private assertConnected(): void {
    if (this.connectionLoss !== undefined) {
      throw new StorageError("the attempt transaction's connection is gone; its writes were rolled back", this.connectionLoss);
    }
  }

  /** Sends BEGIN: the transaction's callback then waits for its one instruction (`finish`). */
  private begin(): Begun {
    this.closesSeen = this.connectionCloses();
    let finish: (instruction: Instruction) => void = () => undefined;
    const instruction = new Promise<Instruction>((resolve) => (finish = resolve));
    let began: (tx: postgres.TransactionSql) => void = () => undefined;
    const answered = new Promise<postgres.TransactionSql>((resolve) => (began = resolve));
    const settled = beginGuarded(this.sql, async (tx) => {
      // Ahead of the handler's first statement, not waited for: a cancel held up by the rows this
      // transaction holds finds the job to stop by it.
      this.mark(tx, this.lease);
      began(tx);
      const next = await instruction;
      // A dead connection takes no ROLLBACK or settle; the server already rolled the transaction back.
      if (this.connectionLoss !== undefined) throw this.connectionLoss;
      if (next.type === "rollback") {
        await this.stopRunningStatements();
        if (this.connectionLoss !== undefined) throw this.connectionLoss;
        throw new RollbackSignal();
      }
      const done = await this.settleIn(tx, settlementOf(this.lease, next.outcome, next.job), () => begun.answered());
      // A lost lease rolls back the handler's writes too: they belonged to an attempt that no longer counts.
      if (done.result.type === "lost") throw new RollbackSignal("lost");
      return done;
    });
    // The close rejects `settled` in the same turn as the socket event, before any later statement.
    settled.catch((err: unknown) => {
      if (isConnectionLoss(err)) this.connectionLoss ??= err;
    });
    const finished = settled.then(
      (done) => done,
      (err: unknown) => {
        if (err instanceof RollbackSignal) return undefined;
        throw err;
      },
    );
    // Until commit or rollback awaits it, a failure must not surface as an unhandled rejection.
    finished.catch(() => undefined);
    let giveUp: (err: StorageError) => void = () => undefined;
    const begun: Begun = {
      // If BEGIN itself fails, the handler's first query fails with it.
      tx: Promise.race([
        answered,
        settled.then(() => answered, (err: unknown) => Promise.reject(new StorageError("could not open the attempt transaction", err))),
        new Promise<never>((_, reject) => (giveUp = reject)),
      ]),
      finish,
      finished,
      begin: "unanswered",
      answered: () => undefined,
    };
    begun.tx.catch(() => undefined);
    this.watchBegin(begun, answered, this.closesSeen, giveUp);
    return begun;
  }
}

/** Resolves to `value` after `ms`, on a timer that keeps no process alive. */
function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}
