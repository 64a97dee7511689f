import type { Clock } from "../clock.js";
import { StorageError } from "../errors.js";

/**
 * `work`, or a `StorageError` once it has not answered within `ms`. A store call that never
 * answers (a half-open connection: the network drops bytes and nothing closes) would otherwise
 * hang the loop that awaits it for good; `onMissed` lets the store drop such connections.
 */
export function withDeadline<T>(clock: Clock, work: Promise<T>, ms: number, what: string, onMissed: () => void): Promise<T> {
  let timer: { cancel: () => void } | undefined;
  let answered = false;
  const missed = new Promise<never>((_, reject) => {
    timer = clock.setTimer(() => {
      // One more turn first: after the process itself stood still (SIGSTOP, a long GC or CPU burst),
      // this timer fires before the answer already waiting on the socket has been read.
      timer = clock.setTimer(() => {
        if (answered) return;
        onMissed();
        reject(new StorageError(`${what}: no answer from the store within ${ms} ms`));
      }, 0);
    }, ms);
  });
  // A late failure of the abandoned call is not news.
  work.catch(() => undefined);
  return Promise.race([work, missed]).finally(() => {
    answered = true;
    timer?.cancel();
  });
}
