import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Runs a script in a fresh node process from the package root, so `jobgraph` resolves through package.json exports. */
function runNode(args: readonly string[], script: string): string {
  return execFileSync(process.execPath, [...args, script], { cwd: root, encoding: "utf8", timeout: 20_000 });
}

const smoke = (load: string) => `
  ${load}
  const queue = new Queue();
  const echo = queue.defineHandler("echo", { run: async (p) => ({ echoed: p }) });
  (async () => {
    await queue.start();
    const job = await queue.enqueue(echo, { n: 1 });
    const done = await queue.waitFor(job.id, { timeoutMs: 5000 });
    let code = "none";
    try { await queue.enqueue("echo", () => 1); } catch (e) { code = e instanceof QueueError ? e.code : "untyped"; }
    await queue.shutdown();
    console.log(JSON.stringify({ status: done.status, result: done.result, code }));
  })().catch((e) => { console.error(e); process.exit(1); });
`;

describe("the built package", () => {
  it("has been built (npm test builds first)", () => {
    expect(existsSync(`${root}/dist/index.js`)).toBe(true);
    expect(existsSync(`${root}/dist/index.cjs`)).toBe(true);
    expect(existsSync(`${root}/dist/index.d.ts`)).toBe(true);
  });

  it("bundles the command line without a copy of the library: it reaches it through the package's entries", () => {
    // What the command line shares with the adapters (adapters/peer.ts, adapters/job-json.ts) imports
    // the library too: one copy of its classes, the one a handlers module importing "jobgraph" gets.
    const { sources } = JSON.parse(readFileSync(`${root}/dist/cli.js.map`, "utf8")) as { sources: string[] };
    expect(sources).toContain("../adapters/peer.ts");
    expect(sources.filter((source) => !/^\.\.\/(cli|adapters)\//.test(source))).toEqual([]);
  });

  it.each([
    ["import (ESM)", ["--input-type=module", "-e"], `import { Queue, QueueError } from "jobgraph";`],
    ["require (CJS)", ["-e"], `const { Queue, QueueError } = require("jobgraph");`],
  ])("runs a job when loaded with %s", (_name, args, load) => {
    const output = JSON.parse(runNode(args, smoke(load)).trim().split("\n").pop() ?? "{}") as unknown;
    expect(output).toEqual({ status: "completed", result: { echoed: { n: 1 } }, code: "VALIDATION" });
  });

  it.each([
    ["import (ESM)", ["--input-type=module", "-e"], `import { Queue } from "jobgraph"; import { jobgraphRouter } from "jobgraph/express"; import express from "express";`],
    ["require (CJS)", ["-e"], `const { Queue } = require("jobgraph"); const { jobgraphRouter } = require("jobgraph/express"); const express = require("express");`],
  ])("serves the built dashboard from dist/dashboard when loaded with %s", (_name, args, load) => {
    const script = `${load}
      const queue = new Queue();
      const app = express().use("/api", jobgraphRouter(queue, { dashboard: true }));
      const server = app.listen(0, "127.0.0.1", async () => {
        const base = "http://127.0.0.1:" + server.address().port + "/api/ui/";
        const page = await fetch(base);
        const html = await page.text();
        const script = /src="(assets\\/main-[A-Z0-9]+\\.js)"/.exec(html)[1];
        const asset = await fetch(base + script);
        console.log(JSON.stringify({ page: page.status, csp: page.headers.get("content-security-policy"), asset: asset.status, cache: asset.headers.get("cache-control") }));
        server.close();
        await queue.shutdown();
      });`;
    const output = JSON.parse(runNode(args, script).trim().split("\n").pop() ?? "{}") as unknown;
    expect(output).toEqual({ page: 200, csp: expect.stringMatching(/^default-src 'self'/), asset: 200, cache: "public, max-age=31536000, immutable" });
  });
});
