import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { databaseUrl, eventually } from "../support/postgres.js";

/** The package root; `dist/cli.js` is what `npx jobgraph` runs (npm test builds it first). */
export const root = fileURLToPath(new URL("../..", import.meta.url));
const CLI = `${root}dist/cli.js`;
export const HANDLERS = "test/cli/fixtures/handlers.mjs";

/** Fails the file at once, with what to do, when the bundle was not built. */
export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
}

/** The environment of a CLI child: the test database, one schema, no colours unless asked for. */
export function cliEnv(schema: string | undefined, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, ...extra };
  delete env.JOBGRAPH_SCHEMA;
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  if (schema !== undefined) env.JOBGRAPH_SCHEMA = schema;
  return env;
}

/** What a finished CLI run printed, and how it exited. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `jobgraph <args>` to its end; one that has not ended within the test's time is killed. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], timeout: 25_000, killSignal: "SIGKILL" });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs `jobgraph <args>` on a pseudo-terminal (util-linux `script`), as a person at a terminal would:
 * answers what the terminal showed.
 */
export function runCliOnTerminal(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const quote = (arg: string) => `'${arg.replace(/'/g, "'\\''")}'`;
  const command = [process.execPath, CLI, ...args].map(quote).join(" ");
  const child = spawn("script", ["--quiet", "--return", "--command", command, "/dev/null"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], timeout: 25_000, killSignal: "SIGKILL" });
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr: "" }));
  });
}

/** Runs `jobgraph <args> --json` and parses its stdout. */
export async function runCliJson<T>(args: readonly string[], env: NodeJS.ProcessEnv): Promise<T> {
  const result = await runCli([...args, "--json"], env);
  if (result.code !== 0) throw new Error(`jobgraph ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** A long-running `jobgraph worker` or `serve`: its output so far, signals by pid, its exit. */
export class CliProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [CLI, ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout?.on("data", (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr?.on("data", (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-20_000)));
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until stdout has a line matching `pattern`; answers its match. */
  async waitForLine(pattern: RegExp, what: string, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    return eventually(
      () => {
        const match = this.stdout.split("\n").map((line) => pattern.exec(line)).find((m) => m !== null);
        if (match != null) return match;
        if (!this.alive) throw new Error(`jobgraph exited before ${what}: ${this.stderr.slice(-2_000)}`);
        return undefined;
      },
      what,
      timeoutMs,
    );
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive && this.child.pid !== undefined) process.kill(this.child.pid, signal);
  }

  /** Ends the process by pid if a test left it running. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.signal("SIGKILL");
    await this.exited;
  }
}
