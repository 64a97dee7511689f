import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { Queue } from "../../src/index.js";
import { databaseUrl, describePostgres, newPostgresStorage } from "../support/postgres.js";
import { FRAMEWORKS, request, StatusClient } from "./support.js";

const workerScript = fileURLToPath(new URL("./fixtures/status-worker.ts", import.meta.url));

describePostgres("status socket across processes (PostgreSQL)", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it.each(FRAMEWORKS)("%s: a client sees pending -> running -> completed for a job run by another process", async (_name, start) => {
    const { storage, schema, cleanup } = await newPostgresStorage();
    cleanups.push(cleanup);
    // This process only serves the API: no handlers, never started.
    const queue = new Queue({ storage });
    const app = await start(queue);
    cleanups.push(async () => {
      await app.close();
      await queue.shutdown();
    });
    const client = await StatusClient.connect(app.ws);
    cleanups.push(async () => client.close());
    await client.subscribe();

    // The store's LISTEN connects in the background: probe until a change comes back through it.
    const heard = client.next((m) => m.type === "job" && m.jobType === "xproc.probe", "a probe through LISTEN");
    for (let probe = 0; probe < 50; probe++) {
      await request("POST", `${app.api}/jobs`, { type: "xproc.probe" });
      const arrived = await Promise.race([heard.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 200))]);
      if (arrived) break;
    }
    await heard;

    const job = (await request("POST", `${app.api}/jobs`, { type: "xproc.work", payload: { n: 1 } })).json.job;
    await client.next((m) => m.id === job.id && m.status === "pending", "pending");

    const worker = spawn(process.execPath, ["--import", "tsx", workerScript], {
      env: { ...process.env, DATABASE_URL: databaseUrl, JOBGRAPH_SCHEMA: schema },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = once(worker, "exit");
    cleanups.push(async () => {
      if (worker.exitCode === null) worker.kill("SIGTERM");
      await exited;
    });

    const completed = await client.next((m) => m.id === job.id && m.status === "completed", "completed");
    expect(completed).toMatchObject({ type: "job", jobType: "xproc.work", attempt: 1 });
    expect(client.statusesOf(job.id)).toEqual(["pending", "running", "completed"]);
    const stored = (await request("GET", `${app.api}/jobs/${job.id}`)).json.job;
    expect(stored.result).toEqual({ echoed: { n: 1 }, pid: worker.pid });
  });
});
