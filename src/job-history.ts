import type { AttemptOutcome, AttemptRecord, ErrorInfo, Json, JobStatus, LogEntry, LogLevel } from "./types.js";

// A job's history as both stores keep it: `attempts` (one entry per attempt, opened by the claim and
// closed by the settle) and `transitions` (every other status change), next to the row's creation
// time. Status log entries are derived from these, never stored; handler lines are stored apart.

/**
 * A status change not made by an attempt's claim or settle: an unblock, a cancel of a waiting job,
 * a cascade, a retry or revival. `from: null` is the creation of a job that did not start pending
 * (blocked, or cancelled by a broken dependency); a job created pending has no such entry.
 */
export interface TransitionRecord {
  readonly at: Date;
  readonly from: JobStatus | null;
  readonly to: JobStatus;
  /** The job's attempt count after the change. */
  readonly attempt: number;
  readonly error?: ErrorInfo;
}

/** What a store keeps of a job's history. */
export interface JobHistory {
  readonly createdAt: Date;
  readonly attempts: readonly AttemptRecord[];
  readonly transitions: readonly TransitionRecord[];
}

/** A handler line (`ctx.log`) as stored, in the order it was stored. */
export interface HandlerLine {
  readonly at: Date;
  readonly attempt: number;
  readonly level: LogLevel;
  readonly message: string;
  readonly data?: Json;
}

/** The status a settlement of that kind leaves the job in. */
export function statusAfter(outcome: AttemptOutcome): JobStatus {
  return outcome === "retry" || outcome === "interrupted" ? "pending" : outcome;
}

/** The attempts with a new one opened (the claim). */
export function attemptOpened(attempts: readonly AttemptRecord[], entry: { attempt: number; startedAt: Date; workerId?: string }): AttemptRecord[] {
  const opened: { -readonly [K in keyof AttemptRecord]: AttemptRecord[K] } = { attempt: entry.attempt, startedAt: entry.startedAt };
  if (entry.workerId !== undefined) opened.workerId = entry.workerId;
  return [...attempts, opened];
}

/** The attempts with the last one closed (the settle); no open attempt leaves them as they are. */
export function attemptClosed(
  attempts: readonly AttemptRecord[],
  end: { finishedAt: Date; outcome: AttemptOutcome; error?: ErrorInfo },
): AttemptRecord[] {
  const last = attempts.at(-1);
  if (last === undefined) return [...attempts];
  const closed: AttemptRecord = { ...last, finishedAt: end.finishedAt, outcome: end.outcome };
  return [...attempts.slice(0, -1), end.error === undefined ? closed : { ...closed, error: { ...end.error } }];
}

/** One derived status entry, before numbering; `opens` marks the start of attempt entry `opens`. */
interface StatusEvent {
  readonly at: Date;
  readonly attempt: number;
  readonly status: JobStatus;
  readonly from: JobStatus | null;
  readonly error?: ErrorInfo;
  readonly opens?: number;
}

/**
 * Every status change of a job and every handler line, in order, as `getJobLogs` returns them:
 * status entries have `message` = the new status, `data` = `{ from, error? }` and the attempt count
 * after the change. A handler line goes inside the attempt it was written by (after its `running`
 * entry, before the entry that ended it), in the order lines were stored; a line naming no attempt
 * of the history goes after the last status change no later than it. `seq` numbers the result.
 */
export function deriveJobLogs(history: JobHistory, lines: readonly HandlerLine[]): LogEntry[] {
  const events = statusEvents(history);
  const byAttempt = new Map<number, HandlerLine[]>();
  const afterEvent = new Map<number, HandlerLine[]>();
  for (const line of lines) {
    const entry = attemptOfLine(history.attempts, line);
    if (entry !== undefined) push(byAttempt, entry, line);
    else push(afterEvent, lastEventAtOrBefore(events, line.at), line);
  }
  const entries: Omit<LogEntry, "seq">[] = [];
  const addLines = (list: readonly HandlerLine[] | undefined) => {
    for (const line of list ?? []) entries.push(lineEntry(line));
  };
  events.forEach((event, index) => {
    const data: { [key: string]: Json } = { from: event.from };
    if (event.error !== undefined) data["error"] = { ...event.error };
    entries.push({ at: event.at, attempt: event.attempt, kind: "status", message: event.status, data });
    if (event.opens !== undefined) addLines(byAttempt.get(event.opens));
    addLines(afterEvent.get(index));
  });
  return entries.map((entry, index) => ({ seq: index + 1, ...entry }));
}

/**
 * The status changes in order: the creation, then attempts and transitions merged by replaying the
 * job's status, each taken when its start status is the current one (by time when both apply).
 */
function statusEvents(history: JobHistory): StatusEvent[] {
  const [first, ...rest] = history.transitions;
  const creation = first !== undefined && first.from === null ? first : undefined;
  const transitions = creation === undefined ? history.transitions : rest;
  const initial: StatusEvent = {
    at: history.createdAt, attempt: 0, status: creation?.to ?? "pending", from: null, ...(creation?.error ? { error: creation.error } : {}),
  };
  const attemptEvents = history.attempts.flatMap((entry, index): StatusEvent[] => {
    const start: StatusEvent = { at: entry.startedAt, attempt: entry.attempt, status: "running", from: "pending", opens: index };
    if (entry.outcome === undefined) return [start];
    const attempt = entry.outcome === "interrupted" ? Math.max(entry.attempt - 1, 0) : entry.attempt;
    const end: StatusEvent = {
      at: entry.finishedAt ?? entry.startedAt, attempt, status: statusAfter(entry.outcome), from: "running", ...(entry.error ? { error: entry.error } : {}),
    };
    return [start, end];
  });
  const transitionEvents = transitions.map((t): StatusEvent => ({
    at: t.at, attempt: t.attempt, status: t.to, from: t.from, ...(t.error ? { error: t.error } : {}),
  }));

  const events = [initial];
  let status = initial.status;
  let a = 0;
  let t = 0;
  while (a < attemptEvents.length || t < transitionEvents.length) {
    const nextAttempt = attemptEvents[a];
    const nextTransition = transitionEvents[t];
    const attemptFits = nextAttempt !== undefined && nextAttempt.from === status;
    const transitionFits = nextTransition !== undefined && nextTransition.from === status;
    let takeAttempt: boolean;
    if (nextTransition === undefined) takeAttempt = true;
    else if (nextAttempt === undefined) takeAttempt = false;
    else if (attemptFits !== transitionFits) takeAttempt = attemptFits;
    else takeAttempt = nextAttempt.at.getTime() < nextTransition.at.getTime();
    const event = takeAttempt ? attemptEvents[a++] : transitionEvents[t++];
    if (event === undefined) break;
    events.push(event);
    status = event.status;
  }
  return events;
}

/** The attempt entry a line was written by: the one of its number (the latest started by then, after a retry). */
function attemptOfLine(attempts: readonly AttemptRecord[], line: HandlerLine): number | undefined {
  let found: number | undefined;
  attempts.forEach((entry, index) => {
    if (entry.attempt !== line.attempt) return;
    if (found === undefined || entry.startedAt.getTime() <= line.at.getTime()) found = index;
  });
  return found;
}

function lastEventAtOrBefore(events: readonly StatusEvent[], at: Date): number {
  let found = -1;
  events.forEach((event, index) => {
    if (event.at.getTime() <= at.getTime()) found = index;
  });
  return Math.max(found, 0);
}

function lineEntry(line: HandlerLine): Omit<LogEntry, "seq"> {
  const entry = { at: line.at, attempt: line.attempt, kind: "log" as const, level: line.level, message: line.message };
  return line.data === undefined ? entry : { ...entry, data: line.data };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
