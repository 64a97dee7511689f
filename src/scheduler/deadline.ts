import type { Clock } from "../clock.js";
import { StorageError } from "../errors.js";
import { withTimeout } from "../timeout.js";

/**
 * `work`, or a `StorageError` once it has not answered within `ms`. A store call that never
 * answers (a half-open connection: the network drops bytes and nothing closes) would otherwise
 * hang the loop that awaits it for good; `onMissed` lets the store drop such connections.
 */
export function withDeadline<T>(clock: Clock, work: Promise<T>, ms: number, what: string, onMissed: () => void): Promise<T> {
  // A late failure of the abandoned call is not news.
  work.catch(() => undefined);
  return withTimeout(
    clock,
    work,
    ms,
    () => {
      onMissed();
      return new StorageError(`${what}: no answer from the store within ${ms} ms`);
    },
    true,
  );
}
