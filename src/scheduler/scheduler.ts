import type { TimerHandle } from "../clock.js";
import type { RegisteredHandler } from "../handler.js";
import type { ResolvedQueueOptions } from "../options.js";
import { effectivePriority, inUse, namesAnyUnit, release, reserve } from "../resources.js";
import type { Storage } from "../storage/storage.js";
import type { JobChange, JobId, Resources } from "../types.js";
import { Executor, type AbortCause, type AttemptObserver, type ExecutorHost } from "./executor.js";

/** What the worker loop needs from the queue that owns it. */
export interface SchedulerDeps {
  /** The store as the worker calls it: each claim and heartbeat bounded by a lease (LeaseBoundStorage). */
  readonly storage: Storage;
  readonly options: ResolvedQueueOptions;
  readonly handlers: ReadonlyMap<string, RegisteredHandler>;
  readonly host: ExecutorHost;
}

/**
 * The worker loop: on a wake (change feed, poll, a slot freed, a retry coming due) it claims
 * what fits the free slots and resources, runs each claimed attempt, keeps their leases alive
 * with one heartbeat per interval for all of them, and on stop releases what is left.
 */
export class Scheduler implements AttemptObserver {
  /** Each job's latest attempt here, until it is over (heartbeats and cancels reach attempts through it). */
  private readonly executors = new Map<JobId, Executor>();
  /**
   * Every attempt not over yet, what shutdown waits for: with the latest of each job, an older one
   * still running after its lease was lost and its job claimed here again.
   */
  private readonly unfinished = new Set<Executor>();
  /** Attempts given a slot whose handler has not returned yet: what occupies the slots. */
  private readonly slotted = new Set<Executor>();
  /** Claimed attempts waiting for a slot (up to `prefetch`), in the order they should start; `level` is the effective priority at claim time. */
  private readonly waiting: { readonly level: number; readonly executor: Executor }[] = [];
  private free: Resources;
  private running = false;
  /** Set once `stop` has finished: nothing of this loop may schedule a timer any more. */
  private stopped = false;
  private claiming = false;
  private wakeAgain = false;
  /**
   * Whether the last claim found less than it asked for, and no attempt holds resources: nothing
   * runnable was left behind, so a finished attempt does not claim again (an empty claim each time
   * a job finishes, and a notified job waiting behind it). A change notification, the poll, a due
   * time or a reset still claim. With resources held, a job may have been left for lack of them.
   */
  private drained = false;
  /** Set while `startWaiting` runs (see there). */
  private startingWaiting = false;
  /** Attempts holding resources: reserved at their claim, released when their handler returns. */
  private holdingResources = 0;
  private pollTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private dueTimer: { at: number; timer: TimerHandle } | undefined;
  private unschedulable = new Set<JobId>();
  /**
   * Ids of jobs with no attempt here whose cancel was requested while a claim was in flight: the claim
   * may have leased them before the request, its answer still on the way. Undefined while no claim is
   * in flight. What the claim brings of them is released unstarted (see `claimOnce`).
   */
  private cancelsDuringClaim: Set<JobId> | undefined;
  private idle: Promise<void> = Promise.resolve();
  /** Set while `stop` waits for the attempts: called once the last one is over. */
  private allOver: (() => void) | undefined;

  constructor(private readonly deps: SchedulerDeps) {
    this.free = deps.options.capacity;
  }

  /** Attempts whose handler has not returned yet. */
  get activeCount(): number {
    return this.slotted.size;
  }

  /** Resources reserved by attempts whose handler has not returned. */
  get inUse(): Resources {
    return inUse(this.deps.options.capacity, this.free);
  }

  get unschedulableCount(): number {
    return this.unschedulable.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopped = false;
    this.schedulePoll();
    this.scheduleHeartbeat();
    this.wake();
  }

  /** Asks for a claim round; rounds never overlap, a wake during one runs another after it. */
  wake(): void {
    if (!this.running) return;
    if (this.claiming) {
      this.wakeAgain = true;
      return;
    }
    this.claiming = true;
    this.idle = this.claimRounds();
  }

  /** Wakes the loop at `at` (a retry's or a delayed job's run time); keeps only the earliest. */
  wakeAt(at: Date): void {
    const { clock } = this.deps.options;
    const time = at.getTime();
    if (!this.running || (this.dueTimer !== undefined && this.dueTimer.at <= time)) return;
    this.dueTimer?.timer.cancel();
    this.dueTimer = {
      at: time,
      timer: clock.setTimer(() => {
        this.dueTimer = undefined;
        this.wake();
      }, time - clock.now()),
    };
  }

  /** Reacts to the change feed: runnable work wakes the loop; a cancel request aborts the attempt. */
  onChanges(changes: readonly JobChange[]): void {
    let runnable = false;
    const { handlers } = this.deps;
    for (const change of changes) {
      // Only a type this worker runs (a type too long to notify comes as "": it may be one).
      if (change.status === "pending" && (change.type === "" || handlers.has(change.type))) runnable = true;
      if (change.cancelRequested === true) this.requestCancel(change.id);
    }
    // After the current turn, so the settle that released these jobs reports its own events first.
    if (runnable) setImmediate(() => this.wake());
  }

  /** Aborts a local attempt if this worker runs it; answers whether it did. */
  cancelLocal(id: JobId): boolean {
    return this.requestCancel(id);
  }

  /** Aborts the attempt of `id` if this worker runs it; notes it when a claim in flight may bring it. */
  private requestCancel(id: JobId): boolean {
    const executor = this.executors.get(id);
    if (executor === undefined) this.cancelsDuringClaim?.add(id);
    this.abortAttempt(executor, "cancel");
    return executor !== undefined;
  }

  /**
   * Aborts an attempt. One still waiting for a slot is let go at once (it runs no handler): kept in
   * line, it held its place among the prefetched and the resources it was admitted with until a
   * slot freed, and the claims of other jobs went short meanwhile.
   */
  private abortAttempt(executor: Executor | undefined, cause: AbortCause): void {
    if (executor === undefined) return;
    executor.abort(cause);
    const at = this.waiting.findIndex((entry) => entry.executor === executor);
    if (at === -1) return;
    this.waiting.splice(at, 1);
    void executor.start();
  }

  /**
   * Stops claiming at once, gives running attempts `graceMs` to finish, then aborts the rest
   * (released to pending, the attempt not counted) and waits up to `abortGraceMs` for their
   * handlers to return.
   */
  async stop(graceMs: number, abortGraceMs: number): Promise<void> {
    this.running = false;
    this.pollTimer?.cancel();
    this.dueTimer?.timer.cancel();
    this.dueTimer = undefined;
    await this.idle;
    // Attempts that never started go back to pending at once, their attempt not counted.
    for (const { executor } of this.waiting.splice(0)) {
      executor.abort("shutdown");
      void executor.start();
    }
    if (!(await this.allDoneWithin(graceMs))) {
      for (const executor of this.unfinished) executor.abort("shutdown");
      await this.allDoneWithin(abortGraceMs);
    }
    // Handlers that ignored their signal may still run, but their outcomes (released, unburnt) were
    // decided at the abort: wait until they are stored, after the attempts' log lines, before the
    // worker drains its batches and the store may close.
    await Promise.all([...this.unfinished].map((executor) => executor.outcomeStored));
    // Handlers that ignored their signal may still run; they are released, so leave no timer behind.
    this.stopped = true;
    this.heartbeatTimer?.cancel();
    for (const executor of this.unfinished) executor.cancelTimers();
  }

  // Ours rather than p-timeout: a grace of 0 ms is valid here (one turn of the clock), p-timeout refuses it.
  private async allDoneWithin(ms: number): Promise<boolean> {
    if (this.unfinished.size === 0) return true;
    const { clock } = this.deps.options;
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = clock.setTimer(() => resolve(false), ms);
    });
    const allOver = new Promise<true>((resolve) => (this.allOver = () => resolve(true)));
    const finished = await Promise.race([allOver, timedOut]);
    this.allOver = undefined;
    timer?.cancel();
    return finished;
  }

  /** Frees the attempt's slot and resources, for the waiting attempts and the next claim. */
  attemptReturned(executor: Executor): void {
    this.slotted.delete(executor);
    const { resources } = executor.claimed.job;
    if (namesAnyUnit(resources)) {
      this.free = release(this.free, resources);
      this.holdingResources--;
    }
    this.startWaiting();
    if (!this.drained) this.wake();
  }

  attemptFinished(executor: Executor): void {
    // A job claimed again by this worker after its lease was lost has a newer attempt under its id.
    if (this.executors.get(executor.jobId) === executor) this.executors.delete(executor.jobId);
    this.unfinished.delete(executor);
    if (this.unfinished.size === 0) this.allOver?.();
  }

  /**
   * Claims until no wake came during the last round. `claiming` is cleared in the same step as the
   * last look at `wakeAgain`: cleared a turn later (in a `finally` on the returned promise), a wake in
   * between set `wakeAgain` for a loop that had already ended, and the next job waited for the poll.
   */
  private async claimRounds(): Promise<void> {
    try {
      do {
        this.wakeAgain = false;
        try {
          await this.claimOnce();
        } catch (error) {
          // The poll timer tries again; a store outage must not kill the loop.
          this.drained = false;
          this.deps.host.reportError(error, "claim");
          return;
        }
      } while (this.wakeAgain && this.running);
    } finally {
      this.claiming = false;
    }
  }

  private async claimOnce(): Promise<void> {
    const { options, storage, handlers } = this.deps;
    const slots = options.concurrency + options.prefetch - this.slotted.size - this.waiting.length;
    // A wake declined for want of room is owed: not drained, so the next attempt that returns claims.
    if (slots <= 0 || handlers.size === 0) {
      this.drained = false;
      return;
    }
    // While more than half of the prefetched attempts still wait for a slot, they keep the slots busy:
    // refill once half are gone. A claim of one or two jobs costs the database nearly what a full one does.
    if (this.waiting.length > Math.floor(options.prefetch / 2)) {
      this.drained = false;
      return;
    }
    const askedAt = options.clock.now();
    const claim = storage.claimJobs({
      workerId: options.workerId,
      types: [...handlers.keys()],
      limit: slots,
      free: this.free,
      capacity: options.capacity,
      starvationMs: options.starvationMs,
      leaseMs: options.leaseMs,
      now: new Date(options.clock.now()),
    });
    const cancels = new Set<JobId>();
    this.cancelsDuringClaim = cancels;
    let result: Awaited<typeof claim>;
    try {
      result = await claim;
    } finally {
      this.cancelsDuringClaim = undefined;
    }
    const { claimed, unschedulable, nextDueInMs } = result;
    this.unschedulable = new Set(unschedulable);
    const claimedAt = new Date(options.clock.now());
    // Told by the store's clock, not ours: a job enqueued elsewhere to run later, or a retry, starts
    // on time rather than at the next poll, also when this process's clock runs ahead of the store's.
    if (nextDueInMs !== undefined && Number.isFinite(nextDueInMs)) this.wakeAt(new Date(claimedAt.getTime() + Math.max(0, nextDueInMs)));
    for (const job of claimed) {
      const handler = handlers.get(job.job.type);
      if (handler === undefined) continue; // cannot happen: we claim only registered types
      // Reserved from the claim on: a prefetched attempt holds what it was admitted with.
      if (namesAnyUnit(job.job.resources)) {
        this.free = reserve(this.free, job.job.resources);
        this.holdingResources++;
      }
      // The slot and the resources are free once the handler returns (`attemptReturned`); storing the
      // outcome is batched with others and need not hold them, so the next claim overlaps the settle.
      const executor = new Executor(job, handler, this.deps.host, this);
      executor.leaseConfirmed(askedAt, options.leaseMs);
      this.executors.set(job.job.id, executor);
      this.unfinished.add(executor);
      const level = effectivePriority(job.job.priority, job.job.runAt, claimedAt, options.starvationMs);
      this.enqueueWaiting({ level, executor });
    }
    // Their cancel was heard while the claim's answer was on its way: released unstarted and unburnt.
    // The store stores a release of a job whose cancel it holds as the cancel; a request it does not
    // hold (an earlier attempt's: an id names no attempt once a job is retried) leaves the job pending.
    for (const id of cancels) this.abortAttempt(this.executors.get(id), "lease-unconfirmed");
    // Held resources include those just claimed: admission may have left a job for lack of them.
    this.drained = claimed.length < slots && this.holdingResources === 0;
    this.startWaiting();
    // A claim that found less than it asked for may have skipped rows another transaction held: another
    // worker's claim locks more candidates than it leases (up to `limit` per priority level), and those
    // go back to pending with no notification. Claim again at once, rather than wait for the poll.
    if (claimed.length > 0 && claimed.length < slots) this.wakeAgain = true;
  }

  /** Keeps the waiting attempts by effective priority level at claim time, first come first served within one. */
  private enqueueWaiting(entry: Scheduler["waiting"][number]): void {
    let at = this.waiting.length;
    while (at > 0 && (this.waiting[at - 1]?.level ?? 0) > entry.level) at--;
    this.waiting.splice(at, 0, entry);
  }

  /**
   * Starts waiting attempts while slots are free; each frees its slot when its handler returns. An
   * attempt can return within `start` (aborted while it waited, or a handler that throws at once):
   * its `attemptReturned` comes back here, and the loop already running takes the freed slot, so a
   * long run of those does not nest one call per attempt.
   */
  private startWaiting(): void {
    // Once stopping, nothing more starts: a claim answered after `stop` began leaves its attempts
    // waiting, and `stop` releases them unburnt.
    if (this.startingWaiting || !this.running) return;
    this.startingWaiting = true;
    try {
      while (this.slotted.size < this.deps.options.concurrency) {
        const next = this.waiting.shift();
        if (next === undefined) return;
        // No heartbeat was answered for a whole lease while it waited: the job may have been rescued
        // and run elsewhere. It is released instead (unburnt, if its lease did hold after all).
        if (next.executor.leaseMayHaveExpired(this.deps.options.clock.now())) next.executor.abort("lease-unconfirmed");
        this.slotted.add(next.executor);
        void next.executor.start();
      }
    } finally {
      this.startingWaiting = false;
    }
  }

  private schedulePoll(): void {
    const { clock, pollIntervalMs } = this.deps.options;
    this.pollTimer = clock.setTimer(() => {
      if (!this.running) return;
      this.wake();
      this.schedulePoll();
    }, pollIntervalMs);
  }

  private scheduleHeartbeat(): void {
    const { clock, heartbeatMs } = this.deps.options;
    this.heartbeatTimer = clock.setTimer(() => {
      void this.heartbeat().finally(() => {
        if (!this.stopped && (this.running || this.unfinished.size > 0)) this.scheduleHeartbeat();
        else this.heartbeatTimer = undefined;
      });
    }, heartbeatMs);
  }

  private async heartbeat(): Promise<void> {
    const live = [...this.executors.values()].filter((e) => e.live);
    if (live.length === 0) return;
    const { storage, options, host } = this.deps;
    try {
      const sentAt = options.clock.now();
      const results = await storage.heartbeat(live.map((e) => e.lease), options.leaseMs, new Date(sentAt));
      // The attempts this heartbeat was for: a newer attempt of the same job claimed meanwhile is not its to abort.
      const heartbeated = new Map(live.map((e) => [e.jobId, e]));
      for (const result of results) {
        const executor = heartbeated.get(result.jobId);
        if (result.state === "alive") executor?.leaseConfirmed(sentAt, options.leaseMs);
        else if (result.state === "lost") this.abortAttempt(executor, "lease-lost");
        else if (result.state === "cancel-requested") this.abortAttempt(executor, "cancel");
      }
    } catch (error) {
      host.reportError(error, "heartbeat");
    }
  }
}
