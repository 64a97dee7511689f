import { afterAll, beforeAll, expect, it } from "vitest";
import { jobToJson } from "../../adapters/job-json.js";
import { PermanentError } from "../../src/errors.js";
import type { Queue } from "../../src/queue.js";
import type { JobRecord } from "../../src/types.js";
import { PostgresQueues } from "../postgres/support/queues.js";
import { describePostgres, dropSchema, freshSchemaName } from "../support/postgres.js";
import { assertBuilt, cliEnv, runCli, runCliJson, runCliOnTerminal } from "./cli-process.js";

/** A job as `--json` prints it: dates as ISO strings, absent fields as null. */
type JobJson = Omit<JobRecord, "runAt" | "createdAt" | "updatedAt" | "startedAt" | "finishedAt" | "result" | "error" | "idempotencyKey" | "timeoutMs"> & {
  readonly result: unknown;
  readonly error: { name: string; message: string; code?: string } | null;
  readonly createdAt: string;
  readonly finishedAt: string | null;
  readonly idempotencyKey: string | null;
};

describePostgres("jobgraph jobs, stats and migrate on PostgreSQL", () => {
  const queues = new PostgresQueues();
  let env: NodeJS.ProcessEnv;
  let worker: Queue;
  let producer: Queue;
  let completed: JobRecord;
  let failed: JobRecord;
  let pending: JobRecord;

  beforeAll(async () => {
    assertBuilt();
    env = cliEnv(queues.schema);
    worker = queues.queue();
    worker.defineHandler("test.echo", {
      run: async (payload, ctx) => {
        ctx.log("info", "echoing", { n: 1 });
        return { echoed: payload };
      },
    });
    worker.defineHandler("test.fail", { run: async () => Promise.reject(new PermanentError("always fails")) });
    await worker.start();
    completed = await worker.waitFor((await worker.enqueue("test.echo", { n: 1 })).id, { timeoutMs: 20_000 });
    failed = await worker.waitFor((await worker.enqueue("test.fail", {})).id, { timeoutMs: 20_000 });
    await worker.shutdown();
    producer = await queues.producer();
    // No process runs "test.later": it stays pending, its dependent blocked.
    pending = await producer.enqueue("test.later", { at: "later" });
    await producer.enqueueMany([{ key: "after", type: "test.later", payload: {}, dependsOn: [pending.id] }]);
  });

  afterAll(async () => queues.cleanup());

  it("migrate creates the schema's tables, and running it again changes nothing", async () => {
    const schema = freshSchemaName();
    try {
      const first = await runCli(["migrate", "--schema", schema], env);
      expect(first).toMatchObject({ code: 0, stdout: `migrated schema ${schema}\n` });
      expect(await runCliJson(["migrate", "--schema", schema], env)).toEqual({ migrated: true, schema });
      const [{ count }] = await queues.sql<[{ count: number }]>`select count(*)::int as count from information_schema.tables where table_schema = ${schema} and table_name = 'jobs'`;
      expect(count).toBe(1);
      expect(await runCliJson(["stats", "--schema", schema], env)).toMatchObject({ byStatus: { pending: 0, completed: 0 } });
    } finally {
      await dropSchema(schema);
    }
  });

  it("a schema never migrated is a failure that names the command that migrates", async () => {
    const result = await runCli(["jobs", "list"], cliEnv(freshSchemaName()));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: the jobgraph tables do not exist in schema "[a-z0-9_]+": run `jobgraph migrate` first/m);
    expect(result.stderr).not.toContain("queue.migrate()");
  });

  it("a database that does not exist is a failure naming the server's reason", async () => {
    const url = new URL(env.DATABASE_URL as string);
    url.pathname = "/jobgraph_no_such_database";
    const result = await runCli(["stats", "--database-url", url.href], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .*database "jobgraph_no_such_database" does not exist$/m);
  });

  it("--schema wins over JOBGRAPH_SCHEMA, and a malformed schema name is a usage error (exit 2), said once", async () => {
    const viaFlag = await runCliJson<{ jobs: JobJson[] }>(["jobs", "list", "--schema", queues.schema], cliEnv("jobgraph_elsewhere"));
    expect(viaFlag.jobs.map((j) => j.id)).toContain(pending.id);
    const bad = await runCli(["jobs", "list", "--schema", "Robert'); drop table jobs;--"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr.match(/must be a lowercase identifier/g)).toHaveLength(1);
  });

  it("jobs list prints a table for people, newest first", async () => {
    const result = await runCli(["jobs", "list"], env);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+STATUS\s+PRIORITY\s+ATTEMPT\s+CREATED\s+FINISHED$/);
    expect(lines).toHaveLength(5);
    expect(lines[4]).toMatch(new RegExp(`^${completed.id}\\s+test\\.echo\\s+completed\\s+normal\\s+1/\\d+\\s+\\d{4}-`));
    // Not a terminal: no colour codes.
    expect(result.stdout).not.toContain("\u001b[");
  });

  it("colours statuses on a terminal, and not with NO_COLOR", async () => {
    const coloured = await runCliOnTerminal(["jobs", "show", completed.id], env);
    expect(coloured.code).toBe(0);
    expect(coloured.stdout).toContain("\u001b[32mcompleted\u001b[0m");
    const plain = await runCliOnTerminal(["jobs", "show", completed.id], { ...env, NO_COLOR: "1" });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/status\s+completed/);
    expect(plain.stdout).not.toContain("\u001b[");
  });

  it("jobs list --json filters by status and type and pages with the cursor", async () => {
    const failedOnly = await runCliJson<{ jobs: JobJson[]; nextCursor: string | null }>(["jobs", "list", "--status", "failed"], env);
    expect(failedOnly.jobs.map((j) => j.id)).toEqual([failed.id]);
    expect(failedOnly.nextCursor).toBeNull();
    expect(failedOnly.jobs[0]).toMatchObject({ type: "test.fail", status: "failed", error: { name: "PermanentError", message: "always fails" }, result: null });
    const byType = await runCliJson<{ jobs: JobJson[] }>(["jobs", "list", "--type", "test.echo,test.fail", "--status", "completed", "--status", "failed"], env);
    expect(byType.jobs.map((j) => j.id).sort()).toEqual([completed.id, failed.id].sort());

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { jobs: JobJson[]; nextCursor: string | null } = await runCliJson(["jobs", "list", "--limit", "3", ...(cursor === null ? [] : ["--cursor", cursor])], env);
      expect(page.jobs.length).toBeLessThanOrEqual(3);
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(new Set(seen).size).toBe(4);
    expect(seen).toHaveLength(4);
  });

  it("jobs show prints every field for people, and the job for scripts", async () => {
    const human = await runCli(["jobs", "show", completed.id], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^id\\s+${completed.id}$`, "m"));
    expect(human.stdout).toMatch(/^status\s+completed$/m);
    expect(human.stdout).toMatch(/^result\s+\{"echoed":\{"n":1\}\}$/m);
    const json = await runCliJson<JobJson>(["jobs", "show", completed.id], env);
    expect(json).toMatchObject({ id: completed.id, type: "test.echo", status: "completed", payload: { n: 1 }, result: { echoed: { n: 1 } }, error: null, attempt: 1, dependsOn: [], idempotencyKey: null });
    expect(new Date(json.createdAt).toISOString()).toBe(json.createdAt);
    const failedShown = await runCli(["jobs", "show", failed.id], env);
    expect(failedShown.stdout).toMatch(/^error\s+PermanentError: always fails$/m);
  });

  it("jobs show --json and jobs list --json print each job exactly as GET /jobs/:id does, to the byte", async () => {
    // The HTTP adapters answer with adapters/job-json.ts: an allow-list of fields in a fixed order
    // (a stored error or backoff comes back from jsonb with its keys in jsonb's order), absent job
    // fields as null, absent attempt fields left out.
    const asHttp = async (id: string) => jobToJson((await producer.getJob(id)) as JobRecord);
    const text = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
    for (const job of [completed, failed, pending]) {
      const shown = await runCli(["jobs", "show", job.id, "--json"], env);
      expect(shown.code).toBe(0);
      expect(shown.stdout, job.type).toBe(text(await asHttp(job.id)));
    }
    const listed = await runCli(["jobs", "list", "--json"], env);
    expect(listed.code).toBe(0);
    const ids = (JSON.parse(listed.stdout) as { jobs: { id: string }[] }).jobs.map((j) => j.id);
    expect(ids).toHaveLength(4);
    expect(listed.stdout).toBe(text({ jobs: await Promise.all(ids.map(asHttp)), nextCursor: null }));
  });

  it("jobs show of an unknown id fails with JOB_NOT_FOUND; a malformed id is a usage error with VALIDATION", async () => {
    const missing = "00000000-0000-4000-8000-000000000000";
    const human = await runCli(["jobs", "show", missing], env);
    expect(human).toMatchObject({ code: 1, stdout: "", stderr: `error: job not found: ${missing}\n` });
    const json = await runCli(["jobs", "show", missing, "--json"], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: "JOB_NOT_FOUND", message: `job not found: ${missing}` } });
    for (const command of ["show", "logs", "cancel", "retry"]) {
      const malformed = await runCli(["jobs", command, "not-a-uuid", "--json"], env);
      expect(malformed.code, command).toBe(2);
      expect((JSON.parse(malformed.stderr) as { error: { code: string } }).error.code, command).toBe("VALIDATION");
    }
  });

  it("jobs logs lists status changes and the handler's lines, in order", async () => {
    const human = await runCli(["jobs", "logs", completed.id], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^AT\s+ATTEMPT\s+KIND\s+MESSAGE$/m);
    expect(human.stdout).toMatch(/\s1\s+info\s+echoing \{"n":1\}$/m);
    expect(human.stdout).toMatch(/running -> completed$/m);
    const entries = await runCliJson<{ seq: number; kind: string; message: string; attempt: number }[]>(["jobs", "logs", completed.id], env);
    expect(entries.map((e) => e.kind)).toContain("log");
    expect(entries.find((e) => e.kind === "log")).toMatchObject({ message: "echoing", attempt: 1, data: { n: 1 }, level: "info" });
    expect(entries.at(-1)).toMatchObject({ kind: "status", message: "completed" });
    const seqs = entries.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it("jobs retry runs a failed job again; retrying a pending one is refused (exit 1)", async () => {
    const retried = await runCliJson<JobJson>(["jobs", "retry", failed.id], env);
    expect(retried).toMatchObject({ id: failed.id, status: "pending" });
    const human = await runCli(["jobs", "retry", pending.id], env);
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(/^error: .+/);
    // Put it back, for the tests after this one.
    await producer.cancel(failed.id);
  });

  it("jobs cancel cancels a pending job with its dependents; a finished job is not cancelled (exit 1)", async () => {
    const human = await runCli(["jobs", "cancel", pending.id], env);
    expect(human).toMatchObject({ code: 0, stdout: `cancelled ${pending.id} (test.later)\n` });
    const counts = await runCliJson<{ byStatus: Record<string, number> }>(["stats"], env);
    expect(counts.byStatus).toMatchObject({ blocked: 0, pending: 0, cancelled: 3, completed: 1 });
    const done = await runCli(["jobs", "cancel", completed.id, "--json"], env);
    expect(done.code).toBe(1);
    expect(JSON.parse(done.stderr)).toEqual({ error: { code: "NOT_CANCELLED", message: `job ${completed.id} is already completed: nothing to cancel` } });
    expect((await producer.getJob(completed.id))?.status).toBe("completed");
  });

  it("stats prints jobs by status and pending jobs by priority", async () => {
    const human = await runCli(["stats"], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^STATUS\s+JOBS$/m);
    expect(human.stdout).toMatch(/^completed\s+1$/m);
    expect(human.stdout).toMatch(/^PRIORITY\s+PENDING$/m);
    const json = await runCliJson<{ byStatus: Record<string, number>; pendingByPriority: Record<string, number> }>(["stats"], env);
    expect(Object.keys(json.byStatus).sort()).toEqual(["blocked", "cancelled", "completed", "failed", "pending", "running"]);
    expect(Object.keys(json.pendingByPriority).sort()).toEqual(["critical", "high", "low", "normal"]);
  });
});
