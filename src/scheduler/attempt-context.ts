import type { JobContext } from "../handler.js";
import type { Json, JobId, JobRecord, LogLevel } from "../types.js";

/** What a handler's context asks of its attempt: each made or done only when the handler uses it. */
export interface AttemptServices {
  signal(): AbortSignal;
  transactionHandle(): unknown;
  log(level: LogLevel, message: string, data?: unknown): void;
}

/**
 * The `ctx` a handler gets. A class, so that `signal` and `tx` are getters on the prototype: an object
 * literal with getters makes new accessor functions and a hidden class of its own for every attempt.
 * `log` is an own function, so a handler may pass it around unbound.
 */
export class AttemptContext implements JobContext {
  readonly #services: AttemptServices;

  constructor(
    readonly job: JobRecord,
    readonly attempt: number,
    readonly dependencies: Readonly<Record<JobId, Json | undefined>>,
    services: AttemptServices,
  ) {
    this.#services = services;
  }

  get signal(): AbortSignal {
    return this.#services.signal();
  }

  get tx(): unknown {
    return this.#services.transactionHandle();
  }

  readonly log = (level: LogLevel, message: string, data?: unknown): void => this.#services.log(level, message, data);
}
