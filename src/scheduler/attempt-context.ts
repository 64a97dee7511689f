import type { JobContext } from "../handler.js";
import type { Json, JobId, JobRecord, LogLevel } from "../types.js";

/** What a handler's context asks of its attempt: each made or done only when the handler uses it. */
export interface AttemptServices {
  signal(): AbortSignal;
  transactionHandle(): unknown;
  log(level: LogLevel, message: string, data?: unknown): void;
}

/**
 * The `ctx` a handler gets: a plain object whose `signal` and `tx` are its own getters, so that
 * `{ ...ctx, log }`, `Object.create(ctx)` and a Proxy of it behave as the object itself does.
 * `log` is an own function, so a handler may pass it around unbound.
 */
export function attemptContext(
  job: JobRecord,
  attempt: number,
  dependencies: Readonly<Record<JobId, Json | undefined>>,
  services: AttemptServices,
): JobContext {
  return {
    job,
    attempt,
    dependencies,
    get signal() {
      return services.signal();
    },
    get tx() {
      return services.transactionHandle();
    },
    log: (level, message, data) => services.log(level, message, data),
  };
}
