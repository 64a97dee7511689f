/** SQLSTATEs after which a whole transaction may simply run again: deadlock victim, serialization failure. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set(["40P01", "40001"]);

/** How often a transaction is tried in all before its transient error is reported. */
export const TRANSIENT_ATTEMPTS = 6;

/** Whether PostgreSQL rolled the transaction back as a deadlock victim or a serialization failure. */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && TRANSIENT_CODES.has(code);
}

/**
 * Runs `work` (one whole transaction or statement) again when it failed transiently, after a
 * short pause that doubles each time and is jittered, so the transactions that collided do not
 * collide again in step. Any other error, or the last transient one, is thrown as it is.
 */
export async function retryTransient<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= TRANSIENT_ATTEMPTS || !isTransient(err)) throw err;
      const ceiling = 5 * 2 ** attempt;
      await new Promise((resolve) => setTimeout(resolve, ceiling / 2 + Math.random() * ceiling));
    }
  }
}
