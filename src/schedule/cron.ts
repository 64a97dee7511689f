import { Cron } from "croner";
import { ValidationError } from "../errors.js";

/** The ticks of one cron expression in one time zone, as croner computes them (DST gaps and repeats included). */
export interface CronTicks {
  /** The first tick strictly after `date`, or undefined when the expression has none left. */
  after(date: Date): Date | undefined;
  /** The last tick strictly before `date`, or undefined when there is none. */
  before(date: Date): Date | undefined;
}

/**
 * Parses a cron expression of 5 fields (minute precision) or 6 (seconds first) in an IANA time
 * zone (default UTC). A bad expression or zone is a `ValidationError`.
 * In a DST gap a fixed-time expression (`30 2 * * *`) fires at the first valid time after it and
 * once in a repeated hour; an interval one (`*\/30 * * * *`) skips times in a gap and fires on both
 * occurrences of a repeated time (croner's rules, as Vixie cron's).
 */
export function parseCron(expression: string, timezone: string | undefined): CronTicks {
  const zone = timezone === undefined ? "Etc/UTC" : canonicalTimeZone(timezone);
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone: zone, paused: true, mode: "5-or-6-parts" });
  } catch (error) {
    throw new ValidationError(`invalid cron expression ${JSON.stringify(expression)}: ${messageOf(error)}`, [{ path: "cron", message: messageOf(error) }], error);
  }
  return {
    after: (date) => cron.nextRun(date) ?? undefined,
    before: (date) => cron.previousRuns(1, date)[0],
  };
}

/**
 * Refuses what croner would take but is not a cron expression: a date and time, which croner runs
 * once (`2026-03-01T00:00:00`, `Sun, 01 Mar 2026 00:00:00 GMT`: any `:`, which no cron field holds),
 * and anything but 5 or 6 fields or a nickname (`@daily`). Checked when a schedule is put, not when a
 * stored one is read: one stored before this check keeps firing as it did.
 */
export function assertCronExpression(expression: string): void {
  const trimmed = expression.trim();
  const fields = trimmed.split(/\s+/).length;
  const problem = trimmed.includes(":")
    ? "is a date and time, not a cron expression"
    : !trimmed.startsWith("@") && fields !== 5 && fields !== 6
      ? `has ${fields} field${fields === 1 ? "" : "s"}, not 5 or 6`
      : undefined;
  if (problem !== undefined) {
    throw new ValidationError(`invalid cron expression ${JSON.stringify(expression)}: 5 fields, or 6 with seconds first, or a nickname (@daily)`, [
      { path: "cron", message: problem },
    ]);
  }
}

/**
 * The IANA zone spelled as `Intl` spells it when only the case differs (`europe/berlin` ->
 * `Europe/Berlin`), so a schedule lists by one name. A link to another zone keeps its own name:
 * Node's ICU resolves some current names to older ones (`Asia/Kolkata` -> `Asia/Calcutta`).
 * `Intl` knows the zones Node does; croner would only fail later, on the first date it converts:
 * an unknown zone is a `ValidationError`.
 */
export function canonicalTimeZone(timezone: string): string {
  try {
    const resolved = new Intl.DateTimeFormat("en-US", { timeZone: timezone }).resolvedOptions().timeZone;
    return resolved.toLowerCase() === timezone.toLowerCase() ? resolved : timezone;
  } catch (error) {
    throw new ValidationError(`unknown time zone ${JSON.stringify(timezone)}`, [{ path: "timezone", message: "not an IANA time zone" }], error);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
