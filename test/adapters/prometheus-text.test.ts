import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { checkConventions, parseExposition, valueOf } from "./prometheus-text.js";

const check = (text: string) => checkConventions(parseExposition(text));

describe("the Prometheus text reader of the tests", () => {
  it("reads what prom-client's own counter, gauge and histogram write", async () => {
    const registry = new Registry();
    new Counter({ name: "x_done_total", help: "h", labelNames: ["type"], registers: [registry] }).inc({ type: 'a"b\\c' }, 3);
    new Gauge({ name: "x_level", help: "h", registers: [registry] }).set(2);
    const histogram = new Histogram({ name: "x_wait_seconds", help: "h", buckets: [0.1, 1], labelNames: ["type"], registers: [registry] });
    for (const value of [0.05, 0.5, 5]) histogram.observe({ type: "a" }, value);
    const families = parseExposition(await registry.metrics());
    checkConventions(families);
    expect(valueOf(families, "x_done_total", "x_done_total", { type: 'a"b\\c' })).toBe(3);
    expect(valueOf(families, "x_wait_seconds", "x_wait_seconds_bucket", { type: "a", le: "1" })).toBe(2);
    expect(valueOf(families, "x_wait_seconds", "x_wait_seconds_count", { type: "a" })).toBe(3);
  });

  const histogram = (lines: string) => `# TYPE h_seconds histogram\n${lines}h_seconds_sum 1\nh_seconds_count 2\n`;
  it.each([
    ["a counter without _total", "# TYPE jobs_done counter\njobs_done 1\n", /without _total/],
    ["_total on a gauge", "# TYPE jobs_total gauge\njobs_total 1\n", /_total on a gauge/],
    ["a duration as quantile gauges", '# TYPE wait_seconds gauge\nwait_seconds{quantile="0.5"} 1\n', /duration as a gauge/],
    ["a summary", '# TYPE wait_seconds summary\nwait_seconds{quantile="0.5"} 1\nwait_seconds_sum 1\nwait_seconds_count 1\n', /a summary/],
    ["a histogram not in seconds", '# TYPE wait_ms histogram\nwait_ms_bucket{le="+Inf"} 0\nwait_ms_sum 0\nwait_ms_count 0\n', /not in seconds/],
    ["buckets going down", histogram('h_seconds_bucket{le="1"} 2\nh_seconds_bucket{le="2"} 1\nh_seconds_bucket{le="+Inf"} 2\n'), /below the one before/],
    ["le not ascending", histogram('h_seconds_bucket{le="2"} 1\nh_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="+Inf"} 2\n'), /not above/],
    ["no +Inf bucket", histogram('h_seconds_bucket{le="1"} 2\n'), /no \+Inf/],
    ["+Inf unlike _count", histogram('h_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="+Inf"} 1\n'), /_count 2/],
    ["a sample before its TYPE", "x 1\n", /before any TYPE/],
    ["a family in two groups", "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n", /outside the gauge b/],
    ["a repeated series", '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n', /repeated series/],
    ["a second TYPE", "# TYPE a gauge\n# TYPE a gauge\n", /second TYPE/],
    ["malformed labels", '# TYPE a gauge\na{x=1} 1\n', /malformed labels/],
    ["a value that is no number", "# TYPE a gauge\na one\n", /not a number/],
    ["no final line feed", "# TYPE a gauge\na 1", /line feed/],
  ])("rejects %s", (_, text, message) => {
    expect(() => check(text)).toThrow(message);
  });
});
