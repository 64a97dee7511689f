import { execFile, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const examples = readdirSync(`${root}/examples`).filter((name) => name.endsWith(".ts"));

describe("examples/", () => {
  it.each(examples)("%s imports jobgraph by its package name, as a user's code would", (name) => {
    const text = readFileSync(`${root}/examples/${name}`, "utf8");
    const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*)"([^"]+)"/g)].map((m) => m[1] ?? "");
    const local = specifiers.filter((s) => s.startsWith("."));
    // Only sibling example files, never the package's own sources.
    expect(local.filter((s) => !/^\.\/[\w-]+\.js$/.test(s))).toEqual([]);
  });

  it("type-check against the built package (tsc -p examples/tsconfig.json; npm test builds first)", async () => {
    const tsc = `${root}/node_modules/typescript/bin/tsc`;
    const run = await promisify(execFile)(process.execPath, [tsc, "-p", "examples/tsconfig.json", "--noEmit", "--listFiles"], { cwd: root, timeout: 120_000 }).catch(
      (err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? "", stderr: err.stderr ?? "", failed: true }),
    );
    expect("failed" in run ? run.stdout.split("\n").filter((l) => l.includes("error TS")) : []).toEqual([]);
    // Resolved through package.json "exports" to dist/, not to the sources.
    const files = run.stdout.split("\n");
    expect(files.some((f) => f.endsWith("/dist/index.d.ts"))).toBe(true);
    expect(files.filter((f) => f.includes("/src/") || f.includes("/adapters/"))).toEqual([]);
  }, 150_000);

  it.each(["express-server.ts", "fastify-server.ts"])("%s listens on 127.0.0.1 at PORT, unbuilt (tsx maps jobgraph to the sources)", async (name) => {
    const child = spawn(process.execPath, ["--import", "tsx", `examples/${name}`], {
      cwd: root,
      env: withoutHost({ ...process.env, PORT: "0", DATABASE_URL: "", API_TOKEN: "" }),
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const lines = createInterface({ input: child.stdout });
      const [line] = (await Promise.race([once(lines, "line"), once(child, "exit").then(() => ["exited"])])) as [string];
      const url = /http:\/\/([\d.]+):(\d+)\/api\/jobs/.exec(line);
      expect(url?.[1], line).toBe("127.0.0.1");
      const res = await fetch(url?.[0] ?? "");
      expect(res.status).toBe(200);
    } finally {
      child.kill("SIGTERM");
      if (child.exitCode === null) await once(child, "exit");
    }
  }, 60_000);
});

function withoutHost(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  delete env.HOST;
  return env;
}
