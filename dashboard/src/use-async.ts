import { useCallback, useEffect, useRef, useState } from "preact/hooks";

/** The state of a load: its value once loaded, or its error. */
export interface Loaded<T> {
  readonly value: T | undefined;
  readonly error: Error | undefined;
  readonly loading: boolean;
  /** Loads again (keeps showing the previous value meanwhile). */
  readonly reload: () => void;
}

/** Runs `load` when `deps` change and on `reload()`; only the latest call's answer is kept. */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ value: T | undefined; error: Error | undefined; loading: boolean }>({ value: undefined, error: undefined, loading: true });
  const latest = useRef(0);
  const run = useCallback(() => {
    const call = ++latest.current;
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (value) => call === latest.current && setState({ value, error: undefined, loading: false }),
      (error: unknown) => call === latest.current && setState((previous) => ({ value: previous.value, error: error instanceof Error ? error : new Error(String(error)), loading: false })),
    );
  }, deps); // the caller's deps decide when to load
  useEffect(() => {
    setState({ value: undefined, error: undefined, loading: true });
    run();
  }, [run]);
  return { ...state, reload: run };
}

/** `fn`, called at most once per `ms` (the last call of a burst is never lost). */
export function useThrottled(fn: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
  }, [ms]);
}
