import { InvalidArgumentError } from "commander";
import { z } from "zod";
import type { JobStatus } from "jobgraph";

/** An argument parser for a whole number in [min, max]; anything else is a usage error. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

/** `cpu=4,memoryMb=4096` -> `{ cpu: 4, memoryMb: 4096 }`. */
export function parseCapacity(value: string): Record<string, number> {
  const capacity: Record<string, number> = {};
  for (const part of value.split(",")) {
    const match = /^\s*([A-Za-z][A-Za-z0-9_]{0,63})\s*=\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (match === null) throw new InvalidArgumentError('expected name=number pairs separated by commas, e.g. "cpu=4,memoryMb=4096"');
    const [, name, amount] = match as unknown as [string, string, string];
    if (Object.hasOwn(capacity, name)) throw new InvalidArgumentError(`${name} is given twice`);
    capacity[name] = Number(amount);
  }
  return capacity;
}

const isoDate = z.iso.date();
const isoDateTime = z.iso.datetime({ offset: true });

/**
 * A date as ISO 8601: a day (`2026-12-04`, midnight UTC) or a time with its offset
 * (`2026-12-04T10:00:00Z`, `...+01:00`). Refused: days that do not exist (`2026-02-31`, which
 * `Date` would roll over to March) and times without an offset (`Date` would read them in the
 * host's time zone), as over HTTP.
 */
export function parseDate(value: string): Date {
  const text = value.trim();
  if (!isoDate.safeParse(text).success && !isoDateTime.safeParse(text).success) {
    throw new InvalidArgumentError("expected an ISO 8601 date, e.g. 2026-12-04 or 2026-12-04T10:00:00Z");
  }
  return new Date(text);
}

/** One status, repeatable or comma-separated: `--status failed,cancelled`. */
export function collectStatuses<S extends JobStatus>(allowed: readonly S[]) {
  return (value: string, previous: S[] | undefined): S[] => {
    const statuses = value.split(",").map((s) => s.trim());
    for (const status of statuses) {
      if (!(allowed as readonly string[]).includes(status)) throw new InvalidArgumentError(`expected one of ${allowed.join(", ")}`);
    }
    return [...(previous ?? []), ...(statuses as S[])];
  };
}

/** A repeatable or comma-separated list of strings: `--type a,b --type c`. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  const items = value.split(",").map((s) => s.trim());
  if (items.some((item) => item === "")) throw new InvalidArgumentError("expected a non-empty name");
  return [...(previous ?? []), ...items];
}

/** A JSON argument (`--payload '{"a":1}'`). */
export function parseJsonArgument(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new InvalidArgumentError("expected JSON, e.g. '{\"batchId\":\"b-1\"}'");
  }
}
