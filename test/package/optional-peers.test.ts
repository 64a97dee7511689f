import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const OPTIONAL_PEERS = ["ws", "prom-client", "@fastify/websocket", "postgres"];

/**
 * A project with the built package installed as a copy of what `npm pack` ships (dist and
 * package.json), its dependencies and express and fastify, but none of ws, prom-client,
 * @fastify/websocket and postgres: the adapters must load and serve their routes without them, and
 * the features that need them (the command line's database among them) must say which package to install.
 */
let project: string;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), "jobgraph-peers-"));
  const modules = join(project, "node_modules");
  const installed = join(modules, "jobgraph");
  mkdirSync(installed, { recursive: true });
  cpSync(join(root, "dist"), join(installed, "dist"), { recursive: true });
  cpSync(join(root, "package.json"), join(installed, "package.json"));
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  for (const name of [...Object.keys(manifest.dependencies), "express", "fastify", "typescript", "@types/node", "@types/express"]) {
    mkdirSync(join(modules, name, ".."), { recursive: true });
    symlinkSync(join(root, "node_modules", name), join(modules, name), "dir");
  }
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
});

afterAll(() => {
  if (project !== undefined) rmSync(project, { recursive: true, force: true });
});

const script = (load: string) => `
${load}
(async () => {
  const out = {};
  const queue = new Queue();
  const describe = (e) => ({ queueError: isQueueError(e), code: e.code, message: e.message });

  const app = express();
  app.use("/api", jobgraphRouter(queue));
  const server = await new Promise((resolve) => { const s = app.listen(0, "127.0.0.1", () => resolve(s)); });
  const base = "http://127.0.0.1:" + server.address().port + "/api";
  out.expressJobs = (await fetch(base + "/jobs")).status;
  out.expressMetricsJson = (await fetch(base + "/metrics")).status;
  const text = await fetch(base + "/metrics", { headers: { accept: "text/plain" } });
  out.expressMetricsText = { status: text.status, body: await text.json() };
  try { attachStatusSocket(server, queue); out.socket = "attached"; } catch (e) { out.socket = describe(e); }
  await new Promise((resolve) => server.close(resolve));

  const fastify = Fastify();
  await fastify.register(jobgraphPlugin, { queue, prefix: "/api" });
  out.fastifyJobs = (await fastify.inject({ method: "GET", url: "/api/jobs" })).statusCode;
  out.fastifyMetricsJson = (await fastify.inject({ method: "GET", url: "/api/metrics" })).statusCode;
  const fText = await fastify.inject({ method: "GET", url: "/api/metrics", headers: { accept: "text/plain" } });
  out.fastifyMetricsText = { status: fText.statusCode, body: fText.json() };
  const ws = await fastify.inject({ method: "GET", url: "/api/ws" });
  out.fastifySocket = { status: ws.statusCode, body: ws.json() };
  await fastify.close();
  await queue.shutdown();
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const missing = (name: string, feature: string) => ({ error: { code: "PEER_DEPENDENCY_MISSING", message: `install ${name} to use ${feature}: npm install ${name}`, details: { package: name } } });

describe("the adapters without their optional peers (ws, prom-client, @fastify/websocket)", () => {
  it("runs in a project where none of them can be resolved", () => {
    const resolve = createRequire(join(project, "node_modules", "jobgraph", "package.json")).resolve;
    for (const name of OPTIONAL_PEERS) expect(() => resolve(name)).toThrow(/Cannot find module/);
    expect(resolve("express")).toContain("express");
  });

  it("type-checks a project using both adapters, library types included (skipLibCheck off)", () => {
    writeFileSync(
      join(project, "typed.ts"),
      `import { Queue } from "jobgraph";\nimport { jobgraphRouter, attachStatusSocket } from "jobgraph/express";\nimport { jobgraphPlugin } from "jobgraph/fastify";\n` +
        `const queue = new Queue();\nexport const router = jobgraphRouter(queue, { bodyLimitBytes: 1024 });\nexport const plugin = jobgraphPlugin;\nexport const attach = attachStatusSocket;\n`,
    );
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", noEmit: true, skipLibCheck: false, types: ["node"] }, files: ["typed.ts"] }),
    );
    const tsc = join(project, "node_modules", "typescript", "bin", "tsc");
    let output = "";
    try {
      execFileSync(process.execPath, [tsc, "-p", "."], { cwd: project, encoding: "utf8", timeout: 120_000 });
    } catch (error) {
      output = (error as { stdout?: string }).stdout ?? String(error);
    }
    expect(output).toBe("");
  }, 150_000);

  it("runs the command line, which names postgres when a command needs the database and postgres is missing", () => {
    const cli = join(project, "node_modules", "jobgraph", "dist", "cli.js");
    const run = (args: readonly string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: project, encoding: "utf8", timeout: 30_000 });
    expect(run(["--version"])).toMatchObject({ status: 0, stdout: `${(JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version}\n` });
    const stats = run(["stats", "--json", "--database-url", "postgres://nobody@127.0.0.1:1/none"]);
    expect(stats.status).toBe(1);
    expect(JSON.parse(stats.stderr)).toEqual({ error: { code: "PEER_DEPENDENCY_MISSING", message: "install postgres to use the jobgraph command: npm install postgres" } });
  });

  it.each([
    ["import (ESM)", "main.mjs", `import { Queue, isQueueError } from "jobgraph"; import { jobgraphRouter, attachStatusSocket } from "jobgraph/express"; import { jobgraphPlugin } from "jobgraph/fastify"; import express from "express"; import Fastify from "fastify";`],
    ["require (CJS)", "main.cjs", `const { Queue, isQueueError } = require("jobgraph"); const { jobgraphRouter, attachStatusSocket } = require("jobgraph/express"); const { jobgraphPlugin } = require("jobgraph/fastify"); const express = require("express"); const Fastify = require("fastify");`],
  ])("loads jobgraph/express and jobgraph/fastify with %s, serves the routes, and names the package a feature needs", (_name, file, load) => {
    writeFileSync(join(project, file), script(load));
    const output = execFileSync(process.execPath, [file], { cwd: project, encoding: "utf8", timeout: 30_000 });
    expect(JSON.parse(output.trim().split("\n").pop() ?? "{}")).toEqual({
      expressJobs: 200,
      expressMetricsJson: 200,
      expressMetricsText: { status: 501, body: missing("prom-client", "Prometheus metrics") },
      socket: { queueError: true, code: "PEER_DEPENDENCY_MISSING", message: "install ws to use the status socket: npm install ws" },
      fastifyJobs: 200,
      fastifyMetricsJson: 200,
      fastifyMetricsText: { status: 501, body: missing("prom-client", "Prometheus metrics") },
      fastifySocket: { status: 501, body: missing("@fastify/websocket", "the status socket") },
    });
  });
});
