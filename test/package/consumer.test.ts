import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl, describePostgres, dropSchema, freshSchemaName } from "../support/postgres.js";

/**
 * A new user's project: `npm pack` of the built package installed from the tarball and the npm
 * cache (no network) into a fresh `npm init` project beside the user's own schema library, the
 * README's Quick start type-checked under `strict` in each module resolution and run, as ESM and as
 * CommonJS. Needs `npm run build` first (`npm test` builds).
 */

const root = fileURLToPath(new URL("../..", import.meta.url));
const tsc = join(root, "node_modules/.bin/tsc");
const run = promisify(execFile);
const typesNode = (JSON.parse(readFileSync(join(root, "node_modules/@types/node/package.json"), "utf8")) as { version: string }).version;

interface Consumer {
  readonly name: string;
  /** What the project installs beside the tarball: exact versions, all in the npm cache. */
  readonly dependencies: readonly string[];
  /** The Quick start as this project writes it: only the schema lines differ. */
  readonly quickStart: (readme: string) => string;
}

const consumers: readonly Consumer[] = [
  { name: "zod 3", dependencies: ["zod@3.25.76"], quickStart: (code) => code },
  {
    name: "valibot",
    dependencies: ["valibot@1.5.0"],
    quickStart: (code) =>
      replaceOnce(replaceOnce(code, `import { z } from "zod";`, `import * as v from "valibot";`), "z.object({ batchId: z.string() })", "v.object({ batchId: v.string() })"),
  },
];

/** Each `moduleResolution` a user may have, with the module kind it goes with; node16 also emits what runs. */
const modes = [
  { moduleResolution: "node16", module: "node16", cjs: true, emit: true },
  { moduleResolution: "nodenext", module: "nodenext", cjs: true, emit: false },
  { moduleResolution: "bundler", module: "esnext", cjs: false, emit: false },
] as const;

function replaceOnce(text: string, from: string, to: string): string {
  if (text.split(from).length !== 2) throw new Error(`the README's Quick start no longer holds exactly one ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

/** The first TypeScript block under "## Quick start" in README.md. */
function readmeQuickStart(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Quick start"));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (!readme.includes("## Quick start") || block?.[1] === undefined) throw new Error("README.md has no Quick start TypeScript block");
  return block[1];
}

/**
 * The CommonJS twin: the same code in a `.cts` file, so the imports compile to `require("jobgraph")`;
 * CommonJS has no top-level await, so everything but the imports and declarations runs in `main`.
 */
function commonJsTwin(code: string): string {
  const lines = code.split("\n");
  const top = lines.filter((l) => /^(import |declare )/.test(l));
  const body = lines.filter((l) => !/^(import |declare )/.test(l));
  return [...top, "async function main(): Promise<void> {", ...body, "}", "main().catch((error: unknown) => { console.error(error); process.exit(1); });", ""].join("\n");
}

async function npm(cwd: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run("npm", [...args], { cwd, encoding: "utf8", timeout: 60_000 });
  return stdout;
}

/** Installs from the npm cache only; a cache entry stored for another request form falls back to prefer-offline. */
async function installOffline(cwd: string, specs: readonly string[]): Promise<void> {
  const args = ["install", "--no-audit", "--no-fund", "--no-package-lock", ...specs];
  try {
    await npm(cwd, ["--offline", ...args]);
  } catch (error) {
    if (!String((error as { stderr?: unknown }).stderr).includes("ENOTCACHED")) throw error;
    await npm(cwd, ["--prefer-offline", ...args]);
  }
}

let workDir = "";
let tarball = "";

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "jobgraph-consumer-"));
  const packed = await npm(root, ["pack", "--silent", "--pack-destination", workDir]);
  tarball = join(workDir, packed.trim().split("\n").pop() ?? "");
}, 60_000);

afterAll(() => {
  if (workDir !== "") rmSync(workDir, { recursive: true, force: true });
});

describe.each(consumers)("a new project with $name", (consumer) => {
  let dir = "";
  const checks = new Map<string, Promise<string>>();
  /** tsc's output for one mode, run once; the node16 run also emits what the run tests start. */
  const typeCheck = (moduleResolution: string): Promise<string> => {
    let check = checks.get(moduleResolution);
    if (check === undefined) {
      check = run(tsc, ["-p", `tsconfig.${moduleResolution}.json`], { cwd: dir, encoding: "utf8", timeout: 60_000 }).then(
        ({ stdout }) => stdout,
        (error: { stdout?: string }) => error.stdout ?? String(error),
      );
      checks.set(moduleResolution, check);
    }
    return check;
  };

  beforeAll(async () => {
    dir = join(workDir, consumer.name.replace(/\W+/g, "-"));
    mkdirSync(dir);
    await npm(dir, ["init", "-y"]);
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "package.json"), JSON.stringify({ ...manifest, type: "module" }, null, 2));
    await installOffline(dir, [tarball, ...consumer.dependencies, `@types/node@${typesNode}`]);
    const code = consumer.quickStart(readmeQuickStart());
    writeFileSync(join(dir, "quick-start.ts"), code);
    writeFileSync(join(dir, "quick-start-cjs.cts"), commonJsTwin(code));
    // The Quick start declares `settleBatch`, the user's own work; the run provides it.
    writeFileSync(join(dir, "settle-batch.mjs"), "globalThis.settleBatch = async () => {};\n");
    for (const mode of modes) {
      // skipLibCheck as `tsc --init` sets it: what is checked is the user's code against our
      // declarations; checking every installed library's own .d.ts takes most of a minute.
      const compilerOptions = {
        strict: true,
        skipLibCheck: true,
        target: "es2022",
        module: mode.module,
        moduleResolution: mode.moduleResolution,
        types: ["node"],
        rootDir: ".",
        outDir: "out",
        ...(mode.emit ? {} : { noEmit: true }),
      };
      const files = mode.cjs ? ["quick-start.ts", "quick-start-cjs.cts"] : ["quick-start.ts"];
      writeFileSync(join(dir, `tsconfig.${mode.moduleResolution}.json`), JSON.stringify({ compilerOptions, files }, null, 2));
    }
    // The three checks are independent: start them together, each test awaits its own.
    for (const mode of modes) void typeCheck(mode.moduleResolution);
  }, 120_000);

  it.each(modes)("type-checks under strict with moduleResolution $moduleResolution", async (mode) => {
    expect(await typeCheck(mode.moduleResolution)).toBe("");
  }, 60_000);

  it.each([
    ["ESM", "quick-start.js"],
    ["CommonJS", "quick-start-cjs.cjs"],
  ])("runs the Quick start as %s", async (_kind, file) => {
    await typeCheck("node16"); // emits out/, type errors or not
    const emitted = readFileSync(join(dir, "out", file), "utf8");
    expect(emitted).toMatch(file.endsWith(".cjs") ? /require\("jobgraph"\)/ : /from "jobgraph"/);
    const { stdout } = await run(process.execPath, ["--import", "./settle-batch.mjs", join("out", file)], { cwd: dir, encoding: "utf8", timeout: 30_000 });
    expect(stdout.trim()).toBe("completed { settled: 42 }");
  }, 60_000);

  it("gets the jobgraph command: it runs without the optional postgres, and a command that needs it says what to install", async () => {
    const bin = join(dir, "node_modules/.bin/jobgraph");
    const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
    const { stdout } = await run(bin, ["--version"], { cwd: dir, encoding: "utf8", timeout: 30_000 });
    expect(stdout.trim()).toBe(version);
    const env = { ...process.env, DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" };
    const failed = (await run(bin, ["stats"], { cwd: dir, env, encoding: "utf8", timeout: 30_000 }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code?: unknown; stderr?: string }) => ({ code: error.code, stderr: error.stderr ?? "" }),
    )) as { code: unknown; stderr: string };
    expect(failed).toEqual({ code: 1, stderr: "error: install postgres to use the jobgraph command: npm install postgres\n" });
  }, 60_000);
});

/**
 * First contact on PostgreSQL: a fresh project with the packed tarball, zod 3 and the postgres.js a
 * user installs today (4, and 3.4), whose very first store call is the queue's start on a fresh schema;
 * one job enqueued, run and read back with its attempt, as the README's PostgreSQL section shows.
 */
const firstContact = `
import { z } from "zod";
import { Queue } from "jobgraph";
import { PostgresStorage } from "jobgraph/postgres";

const storage = new PostgresStorage({ connectionString: process.env.DATABASE_URL, schema: process.env.JOBGRAPH_SCHEMA });
const queue = new Queue({ storage, concurrency: 2 });
const settle = queue.defineHandler("payments.settle", {
  payload: z.object({ batchId: z.string() }),
  run: async ({ batchId }, ctx) => {
    ctx.log("info", "settling", { batchId });
    return { settled: batchId.length };
  },
});
await queue.start();
const job = await queue.enqueue(settle, { batchId: "b-1" });
const done = await queue.waitFor(job.id, { timeoutMs: 20000 });
const logs = await queue.getJobLogs(job.id);
console.log(JSON.stringify({ status: done.status, result: done.result, attempts: done.attempts.length, kinds: logs.map((l) => l.kind + ":" + l.message) }));
await queue.shutdown();
await storage.close();
`;

for (const driver of ["postgres@4.2.0", "postgres@3.4.10"]) {
  describePostgres(`a new project with zod 3 and ${driver} on PostgreSQL`, () => {
    let dir = "";
    const schema = freshSchemaName();

    beforeAll(async () => {
      dir = join(workDir, `pg-${driver.replace(/\W+/g, "-")}`);
      mkdirSync(dir);
      await npm(dir, ["init", "-y"]);
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<string, unknown>;
      writeFileSync(join(dir, "package.json"), JSON.stringify({ ...manifest, type: "module" }, null, 2));
      await installOffline(dir, [tarball, "zod@3.25.76", driver]);
      writeFileSync(join(dir, "first-contact.mjs"), firstContact);
    }, 120_000);

    afterAll(async () => {
      await dropSchema(schema);
    });

    it("migrates a fresh schema on start, runs a job and reads its history back", async () => {
      const env = { ...process.env, DATABASE_URL: databaseUrl, JOBGRAPH_SCHEMA: schema };
      const { stdout } = await run(process.execPath, ["first-contact.mjs"], { cwd: dir, env, encoding: "utf8", timeout: 60_000 });
      expect(JSON.parse(stdout.trim())).toEqual({
        status: "completed",
        result: { settled: 3 },
        attempts: 1,
        kinds: ["status:pending", "status:running", "log:settling", "status:completed"],
      });
    }, 90_000);
  });
}
