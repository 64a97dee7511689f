import type { JobContext } from "../handler.js";
import type { Json, JobId, JobRecord, LogLevel } from "../types.js";

/** What a handler's context asks of its attempt: each made or done only when the handler uses it. */
export interface AttemptServices {
  signal(): AbortSignal;
  transactionHandle(): unknown;
  log(level: LogLevel, message: string, data?: unknown): void;
}

/** Where a context keeps its attempt: a property no listing shows, found through a prototype or a Proxy too. */
const SERVICES: unique symbol = Symbol("jobgraph.attempt");

type WithServices = { readonly [SERVICES]: AttemptServices };

/**
 * The getters of `signal` and `tx`, the same functions on every context, which read the attempt from
 * the object they are called on. With getters made per context (closures in an object literal), each
 * context got a hidden class of its own: about 1 KB a job.
 */
const SHARED_GETTERS: PropertyDescriptorMap = {
  signal: {
    get(this: WithServices) {
      return this[SERVICES].signal();
    },
    enumerable: true,
    configurable: true,
  },
  tx: {
    get(this: WithServices) {
      return this[SERVICES].transactionHandle();
    },
    enumerable: true,
    configurable: true,
  },
};

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
  const ctx = { job, attempt, dependencies } as { job: JobRecord; attempt: number; dependencies: typeof dependencies; log?: JobContext["log"] };
  Object.defineProperty(ctx, SERVICES, { value: services });
  Object.defineProperties(ctx, SHARED_GETTERS);
  ctx.log = (level, message, data) => services.log(level, message, data);
  return ctx as unknown as JobContext;
}
