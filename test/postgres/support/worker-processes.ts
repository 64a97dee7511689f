import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { databaseUrl } from "../../support/postgres.js";

const WORKER = fileURLToPath(new URL("./worker-process.ts", import.meta.url));
/** Worker processes started and not yet exited: a test file kills what is left in `afterAll`. */
export const children = new Set<ChildProcess>();

/** Starts a worker process; resolves once it has started its queue. */
export function startWorker(schema: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER], {
    env: { ...process.env, DATABASE_URL: databaseUrl, JOBGRAPH_SCHEMA: schema, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let errors = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    errors += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${errors}`)), 20_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code}: ${errors}`));
    });
  });
}

/** Stops a worker politely (SIGTERM) and waits for it to exit; SIGKILL if it takes too long. */
export async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
