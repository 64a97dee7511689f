import type { JobStatus } from "jobgraph";

/** Where a command writes: stdout for results, stderr for messages, colours only where they belong. */
export interface Output {
  /** Whether `--json` was given: one JSON document on stdout instead of text for people. */
  readonly json: boolean;
  /** Writes a line of text for people. */
  line(text?: string): void;
  /** Writes one JSON document (dates as ISO strings, absent values as null). */
  printJson(value: unknown): void;
  /** A message that is not the result (progress, warnings), on stderr. */
  note(text: string): void;
  /** Colours `text` as `status` when colours are on. */
  status(status: JobStatus | string, text?: string): string;
  /** Dims `text` when colours are on. */
  dim(text: string): string;
}

const STATUS_COLOURS: Readonly<Record<string, number>> = {
  blocked: 35, // magenta
  pending: 33, // yellow
  running: 36, // cyan
  completed: 32, // green
  failed: 31, // red
  cancelled: 90, // grey
};

/** Colours only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export function colourWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === "");
}

/** JSON for scripts: `undefined` fields become `null`, so every key of a shape is always there. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v === undefined ? null : v), 2);
}

/** The process's stdout and stderr as an `Output`. */
export function processOutput(json: boolean): Output {
  const colour = colourWanted(process.stdout);
  const paint = (code: number | undefined, text: string) => (colour && code !== undefined ? `\u001b[${code}m${text}\u001b[0m` : text);
  return {
    json,
    line: (text = "") => void process.stdout.write(`${text}\n`),
    printJson: (value) => void process.stdout.write(`${toJsonText(value)}\n`),
    note: (text) => void process.stderr.write(`${text}\n`),
    status: (status, text = status) => paint(STATUS_COLOURS[status], text),
    dim: (text) => paint(2, text),
  };
}

/** Visible width of a cell: colour codes take no room. */
const ESCAPE = String.fromCharCode(27);
const COLOUR_CODE = new RegExp(`${ESCAPE}\\[[0-9;]*m`, "g");
const width = (text: string) => text.replace(COLOUR_CODE, "").length;

/** A plain text table: a header row, then one row per entry, columns padded to their widest cell. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ""))));
  const format = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - width(cell))))
      .join("  ")
      .trimEnd();
  return [format(headers), ...rows.map(format)].join("\n");
}

/** A date for people: ISO without milliseconds, or "-" when absent. */
export function formatDate(date: Date | string | undefined | null): string {
  if (date === undefined || date === null) return "-";
  const iso = typeof date === "string" ? date : date.toISOString();
  return iso.replace(/\.\d{3}Z$/, "Z");
}

/** Text that fits on one table line: newlines flattened, cut at `max` characters. */
export function oneLine(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
