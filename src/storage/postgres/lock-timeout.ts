/**
 * Whether PostgreSQL gave up waiting for a row lock (lock_not_available, as `lock_timeout` fails a
 * statement), also when the driver wrapped that error in another.
 */
export function isLockTimeout(err: unknown): boolean {
  const code = (candidate: unknown) => (candidate as { code?: unknown } | null)?.code;
  return code(err) === "55P03" || code((err as { cause?: unknown } | null)?.cause) === "55P03";
}
