import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type postgres from "postgres";
import { afterAll, afterEach, beforeEach } from "vitest";
import { Queue } from "../../../src/queue.js";
import { PostgresStorage } from "../../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, dropSchema, freshSchemaName } from "../../support/postgres.js";

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

/** What a test of worker processes works with: its schema, an admin pool, and a producer queue that is never started. */
export interface WorkerSchema {
  readonly schema: string;
  readonly sql: postgres.Sql;
  readonly producer: Queue;
}

/**
 * Registers, for every test of the file: a fresh migrated schema with the workers' ledger table and
 * a producer queue on it; afterwards every worker is stopped and the schema dropped. No worker
 * outlives the file, even when a test failed half way. Read the fields inside a test.
 */
export function useWorkerSchema(): WorkerSchema {
  const current: { schema?: string; sql?: postgres.Sql; producer?: Queue } = {};
  beforeEach(async () => {
    current.schema = freshSchemaName();
    current.sql = adminSql();
    current.producer = new Queue({ storage: new PostgresStorage({ connectionString: databaseUrl, schema: current.schema, max: 4 }) });
    await current.producer.migrate();
    const { sql, schema } = current;
    // The workers' handlers record each attempt here, in the completion's transaction.
    await sql`create table ${sql(schema)}.ledger (job_id uuid primary key, worker text not null, attempt int not null)`;
  });
  afterEach(async () => {
    await Promise.all([...children].map(stopWorker));
    await current.producer?.shutdown();
    await current.producer?.storage.close();
    await current.sql?.end({ timeout: 5 });
    if (current.schema !== undefined) await dropSchema(current.schema);
  });
  afterAll(() => {
    for (const child of children) child.kill("SIGKILL");
  });
  const need = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("read the worker schema inside a test");
    return value;
  };
  return {
    get schema() { return need(current.schema); },
    get sql() { return need(current.sql); },
    get producer() { return need(current.producer); },
  };
}
