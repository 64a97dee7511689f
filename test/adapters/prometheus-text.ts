/**
 * A strict reader of Prometheus's text exposition (format 0.0.4) and a check of the conventions
 * jobgraph follows: counters end in `_total`, durations are histograms in seconds, gauges are levels.
 */

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string | undefined;
  readonly samples: Sample[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL_NAME = "[a-zA-Z_][a-zA-Z0-9_]*";
const TYPES = new Set<MetricType>(["counter", "gauge", "histogram", "summary", "untyped"]);

/**
 * Parses the text exposition into families by name. Throws on anything malformed or out of place:
 * a bad line, a sample before its `# TYPE`, a family split in two groups, a second `# TYPE` or
 * `# HELP`, a sample name that does not belong to its family's type, a repeated series or label.
 */
export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a line feed");
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const lines = text.split("\n").slice(0, -1);
  for (const [index, line] of lines.entries()) {
    const fail = (why: string): never => {
      throw new Error(`line ${index + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    if (line === "") continue;
    const help = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line);
    if (help !== null) {
      const name = help[1] as string;
      if (helps.has(name)) fail("a second HELP");
      helps.set(name, help[2] as string);
      continue;
    }
    const type = new RegExp(`^# TYPE (${NAME}) (\\w+)$`).exec(line);
    if (type !== null) {
      const name = type[1] as string;
      const kind = type[2] as MetricType;
      if (!TYPES.has(kind)) fail("an unknown type");
      if (families.has(name)) fail("a second TYPE");
      current = { name, type: kind, help: undefined, samples: [] };
      families.set(name, current);
      continue;
    }
    if (line.startsWith("#")) fail("a comment jobgraph never writes");
    const sample = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`).exec(line);
    if (sample === null) fail("not a sample");
    const [, name, labelText, valueText] = sample as RegExpExecArray;
    if (current === undefined) fail("a sample before any TYPE");
    const family = current as Family;
    if (!belongsTo(name as string, family)) fail(`a sample outside the ${family.type} ${family.name}`);
    const labels = parseLabels(labelText ?? "", fail);
    const value = parseValue(valueText as string, fail);
    const key = `${name}{${Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")}}`;
    if (seen.has(key)) fail("a repeated series");
    seen.add(key);
    family.samples.push({ name: name as string, labels, value });
  }
  for (const [name, text] of helps) {
    const family = families.get(name);
    if (family === undefined) throw new Error(`HELP for ${name}, which has no TYPE`);
    families.set(name, { ...family, help: text });
  }
  return families;
}

function belongsTo(sampleName: string, family: Family): boolean {
  switch (family.type) {
    case "histogram":
      return [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`].includes(sampleName);
    case "summary":
      return [family.name, `${family.name}_sum`, `${family.name}_count`].includes(sampleName);
    default:
      return sampleName === family.name;
  }
}

function parseLabels(text: string, fail: (why: string) => never): Record<string, string> {
  const labels: Record<string, string> = {};
  const pair = new RegExp(`^(${LABEL_NAME})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"(,|$)`);
  let rest = text;
  while (rest !== "") {
    const match = pair.exec(rest);
    if (match === null) fail("malformed labels");
    const [whole, name, raw] = match as RegExpExecArray;
    if (Object.hasOwn(labels, name as string)) fail(`label ${name} twice`);
    labels[name as string] = (raw as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    rest = rest.slice((whole as string).length);
  }
  return labels;
}

function parseValue(text: string, fail: (why: string) => never): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) fail("not a number");
  return Number(text);
}

/** Checks every family against jobgraph's conventions; throws naming the first that breaks one. */
export function checkConventions(families: ReadonlyMap<string, Family>): void {
  for (const family of families.values()) {
    const { name, type } = family;
    if (type !== "counter" && type !== "gauge" && type !== "histogram") throw new Error(`${name}: a ${type}, not a counter, gauge or histogram`);
    if (type === "counter" && !name.endsWith("_total")) throw new Error(`${name}: a counter without _total`);
    if (type !== "counter" && name.endsWith("_total")) throw new Error(`${name}: _total on a ${type}`);
    if (type === "histogram" && !name.endsWith("_seconds")) throw new Error(`${name}: a histogram not in seconds`);
    if (type === "gauge" && name.endsWith("_seconds")) throw new Error(`${name}: a duration as a gauge`);
    if (family.samples.some((s) => "quantile" in s.labels)) throw new Error(`${name}: quantiles computed in the process`);
    if (type === "counter" && family.samples.some((s) => !(s.value >= 0 && Number.isFinite(s.value)))) throw new Error(`${name}: a counter below zero`);
    if (type === "histogram") checkHistogram(family);
  }
}

/** Per series: `le` ascending and ending at `+Inf`, counts never decreasing, `+Inf` equal to `_count`, a `_sum`. */
function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: Sample[]; sum?: number; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1)));
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (sample.name.endsWith("_bucket")) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      entry.buckets.push(sample);
    } else if (le !== undefined) {
      throw new Error(`${family.name}: le on ${sample.name}`);
    } else if (sample.name.endsWith("_sum")) {
      entry.sum = sample.value;
    } else {
      entry.count = sample.value;
    }
  }
  for (const [labels, { buckets, sum, count }] of series) {
    const where = `${family.name}${labels}`;
    if (sum === undefined || count === undefined) throw new Error(`${where}: no _sum or no _count`);
    if (buckets.length === 0 || buckets.at(-1)?.labels.le !== "+Inf") throw new Error(`${where}: no +Inf bucket last`);
    let previous = { le: -Infinity, value: 0 };
    for (const bucket of buckets) {
      const le = parseValue(bucket.labels.le as string, (why) => {
        throw new Error(`${where}: le ${why}`);
      });
      if (!(le > previous.le)) throw new Error(`${where}: le ${bucket.labels.le} not above ${previous.le}`);
      if (bucket.value < previous.value) throw new Error(`${where}: bucket le=${bucket.labels.le} below the one before`);
      previous = { le, value: bucket.value };
    }
    if (previous.value !== count) throw new Error(`${where}: +Inf bucket ${previous.value} but _count ${count}`);
    if (!(sum >= 0)) throw new Error(`${where}: a negative duration sum`);
  }
}

/** The value of one series, or undefined. */
export function valueOf(families: ReadonlyMap<string, Family>, family: string, sampleName: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels);
  return families
    .get(family)
    ?.samples.find((s) => s.name === sampleName && Object.keys(s.labels).length === wanted.length && wanted.every(([k, v]) => s.labels[k] === v))?.value;
}

/** Each family's type, by name: compare against the expected table. */
export function typesOf(families: ReadonlyMap<string, Family>): Record<string, MetricType> {
  return Object.fromEntries([...families.values()].map((f) => [f.name, f.type]));
}

/** Every family jobgraph exposes, with its type. */
export const PROMETHEUS_FAMILIES: Record<string, MetricType> = {
  jobgraph_jobs: "gauge",
  jobgraph_queue_length: "gauge",
  jobgraph_running_attempts: "gauge",
  jobgraph_concurrency: "gauge",
  jobgraph_resource_capacity: "gauge",
  jobgraph_resource_in_use: "gauge",
  jobgraph_unschedulable_jobs: "gauge",
  jobgraph_jobs_completed_total: "counter",
  jobgraph_jobs_failed_total: "counter",
  jobgraph_jobs_retried_total: "counter",
  jobgraph_attempts_stuck_total: "counter",
  jobgraph_wait_time_seconds: "histogram",
  jobgraph_run_time_seconds: "histogram",
};
