// Summarises a .cpuprofile: self time by function and by package/file, top N.
// Usage: node --import tsx bench/top-functions.ts <file.cpuprofile> [N]
import { readFileSync } from "node:fs";
import { commandLine, parseCommandLine, UsageError, wholeNumber } from "./lib/args.ts";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const usage = "node --import tsx bench/top-functions.ts <file.cpuprofile> [N=25]";
const { file, top } = commandLine((argv) => {
  const [path, count, ...extra] = parseCommandLine(argv, usage, {}, true).positionals;
  if (path === undefined) throw new UsageError("give the .cpuprofile to summarise", usage);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, usage);
  return { file: path, top: wholeNumber(count, "N", 25, usage) };
});
const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (url: string) => {
  if (url === "") return "(native/idle)";
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  const s = /\/(src\/.*)$/.exec(url);
  return s ? s[1]! : url.replace(/^.*\//, "");
};
const fn = new Map<string, number>();
const pkg = new Map<string, number>();
for (const [id, us] of self) {
  const node = byId.get(id)!;
  const { functionName, url, lineNumber } = node.callFrame;
  const key = `${functionName || "(anonymous)"} ${where(url)}:${lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  pkg.set(where(url), (pkg.get(where(url)) ?? 0) + us);
}
const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (of ${(total / 1000).toFixed(0)} ms sampled)`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
};
show("self time by file or package", pkg);
show("self time by function", fn);
