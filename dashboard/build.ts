import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

// Builds the dashboard into dist/dashboard: content-hashed script and stylesheet under assets/, an
// index.html that only links them (no inline script or style: `default-src 'self'` holds), and a
// gzip copy of each text file. Runs after tsup, which empties dist/.

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "dashboard");

rmSync(out, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: "dashboard/src/main.tsx", "layout-worker": "dashboard/src/graph-layout-worker.ts" },
  outdir: join(out, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome111", "firefox115", "safari16.4"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
  tsconfig: "dashboard/tsconfig.json",
});

const outputs = Object.keys(result.metafile.outputs).map((file) => join(root, file));
const script = outputs.find((file) => /[\\/]main-[A-Z0-9]+\.js$/.test(file));
const worker = outputs.find((file) => /[\\/]layout-worker-[A-Z0-9]+\.js$/.test(file));
const style = outputs.find((file) => file.endsWith(".css"));
if (script === undefined || worker === undefined || style === undefined) throw new Error(`dashboard build: expected a script, a worker and a stylesheet, got ${outputs.join(", ")}`);

const icon = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1c2330"/><circle cx="9" cy="16" r="4" fill="#7aa7f5"/><circle cx="23" cy="9" r="4" fill="#4ade80"/><circle cx="23" cy="23" r="4" fill="#fbbf24"/><path d="M12.5 14.5 19.5 10.5M12.5 17.5l7 4" stroke="#fff" stroke-width="2"/></svg>';
const iconName = `icon-${createHash("sha256").update(icon).digest("hex").slice(0, 8).toUpperCase()}.svg`;
writeFileSync(join(out, "assets", iconName), icon);

const href = (file: string) => relative(out, file).split("\\").join("/");
writeFileSync(
  join(out, "index.html"),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>jobgraph dashboard</title>
<link rel="icon" href="assets/${iconName}" type="image/svg+xml">
<meta name="jobgraph-layout-worker" content="${href(worker)}">
<link rel="stylesheet" href="${href(style)}">
<script type="module" src="${href(script)}"></script>
</head>
<body>
<div id="app"></div>
</body>
</html>
`,
);

const sizes: string[] = [];
for (const file of [script, worker, style, join(out, "index.html"), join(out, "assets", iconName)]) {
  const raw = readFileSync(file);
  const gzip = gzipSync(raw, { level: 9 });
  writeFileSync(`${file}.gz`, gzip);
  sizes.push(`${basename(file)} ${(raw.length / 1024).toFixed(1)} KiB (gzip ${(gzip.length / 1024).toFixed(1)} KiB)`);
}
console.log(`dashboard: ${sizes.join(", ")}`);
