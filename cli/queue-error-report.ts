import type { Queue } from "jobgraph";
import { oneLine, type Output } from "./output.js";

/** The same error (code, message, context without its timestamps) is printed at most once per window. */
export const REPEAT_WINDOW_MS = 60_000;

/** One printed error: what happened, where, and how many like it were left out since it was last printed. */
export interface ErrorLine {
  readonly code: string;
  readonly message: string;
  readonly context: string;
  readonly suppressed: number;
}

const ISO_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g;

/**
 * Coalesces repeating errors: `accept` answers the line to print, or null when the same error was
 * printed less than `windowMs` ago (then it is counted, and the next printed line says how many).
 */
export function errorCoalescer(now: () => number = Date.now, windowMs = REPEAT_WINDOW_MS): (error: unknown, context: string) => ErrorLine | null {
  const seen = new Map<string, { printedAt: number; suppressed: number }>();
  return (error, context) => {
    const code = errorCode(error);
    const message = oneLine(messageOf(error), 2_000);
    const key = `${code}\u0000${message}\u0000${context.replace(ISO_TIME, "")}`;
    const at = now();
    const last = seen.get(key);
    if (last !== undefined && at - last.printedAt < windowMs) {
      last.suppressed += 1;
      return null;
    }
    // Bounded: a flood of distinct errors cannot grow the map without end.
    if (last === undefined && seen.size >= 1_000) seen.clear();
    seen.set(key, { printedAt: at, suppressed: 0 });
    return { code, message, context: oneLine(context, 2_000), suppressed: last?.suppressed ?? 0 };
  };
}

/** Prints each `queue:error` as one line on stderr (one JSON object with `--json`), repeats coalesced. */
export function reportQueueErrors(queue: Queue, out: Output, accept = errorCoalescer()): void {
  queue.on("queue:error", ({ error, context }) => {
    const line = accept(error, context);
    if (line === null) return;
    if (out.json) return out.note(JSON.stringify({ event: "error", ...line }));
    const repeats = line.suppressed === 0 ? "" : ` (${line.suppressed} more like it not shown)`;
    out.note(`error: ${line.context}: ${line.message}${repeats}`);
  });
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code !== "" ? code : "ERROR";
}

/** Whatever was thrown, as text: a message, or the value itself; never throws (an object without a prototype). */
function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message === "string") return message;
  try {
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

