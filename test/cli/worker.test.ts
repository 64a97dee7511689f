import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import type { Queue } from "../../src/queue.js";
import { PostgresQueues } from "../postgres/support/queues.js";
import { describePostgres, eventually, freshSchemaName } from "../support/postgres.js";
import { assertBuilt, cliEnv, CliProcess, HANDLERS, runCli } from "./cli-process.js";

describePostgres("jobgraph worker on PostgreSQL", () => {
  const queues = new PostgresQueues();
  const running = new Set<CliProcess>();
  const dir = mkdtempSync(join(tmpdir(), "jobgraph-cli-"));
  let env: NodeJS.ProcessEnv;
  let producer: Queue;

  /** `jobgraph worker` on the test schema; killed by pid after the test if it is still running. */
  function startWorker(...flags: string[]): CliProcess {
    const worker = new CliProcess(["worker", "--handlers", HANDLERS, ...flags], env);
    running.add(worker);
    return worker;
  }

  const ready = (worker: CliProcess) => worker.waitForLine(/^worker \d+ running test\.echo, test\.fail, test\.slow from schema /, "the worker's ready line");
  const releaseFile = (name: string) => join(dir, name);

  beforeAll(async () => {
    assertBuilt();
    env = cliEnv(queues.schema);
    producer = await queues.producer();
  });

  afterEach(async () => {
    for (const worker of running) await worker.kill();
    running.clear();
  });

  afterAll(async () => {
    await queues.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs the handlers module's jobs, with PermanentError from jobgraph failing at once, and prints each outcome", async () => {
    const worker = startWorker("--concurrency", "2", "--capacity", "cpu=2", "--prefetch", "1");
    await ready(worker);
    const echo = await producer.waitFor((await producer.enqueue("test.echo", { n: 7 })).id, { timeoutMs: 20_000 });
    expect(echo).toMatchObject({ status: "completed", result: { echoed: { n: 7 } } });
    const failed = await producer.waitFor((await producer.enqueue("test.fail", {})).id, { timeoutMs: 20_000 });
    expect(failed.maxAttempts).toBeGreaterThan(1);
    expect(failed).toMatchObject({ status: "failed", attempt: 1, error: { name: "PermanentError", message: "always fails" } });
    await worker.waitForLine(new RegExp(`^completed test\\.echo ${echo.id} in \\d+ ms$`), "the completed line");
    await worker.waitForLine(new RegExp(`^failed test\\.fail ${failed.id}: always fails$`), "the failed line");
    worker.signal("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  });

  it("with --json prints a ready event and one JSON line per outcome", async () => {
    const worker = startWorker("--json");
    const [line] = await worker.waitForLine(/^\{"event":"ready".*$/, "the ready event");
    expect(JSON.parse(line)).toEqual({ event: "ready", pid: expect.any(Number), schema: queues.schema, types: ["test.echo", "test.fail", "test.slow"] });
    const job = await producer.enqueue("test.echo", { n: 1 });
    await producer.waitFor(job.id, { timeoutMs: 20_000 });
    const [completed] = await worker.waitForLine(/^\{"event":"completed".*$/, "the completed event");
    expect(JSON.parse(completed)).toEqual({ event: "completed", id: job.id, type: "test.echo", runTimeMs: expect.any(Number) });
    worker.signal("SIGINT");
    expect((await worker.exited).code).toBe(0);
  });

  it("on SIGTERM stops claiming, lets the running job finish within the grace, then exits 0", async () => {
    const worker = startWorker("--shutdown-grace-ms", "60000");
    await ready(worker);
    const slow = await producer.enqueue("test.slow", { release: releaseFile("finish") });
    await worker.waitForLine(new RegExp(`^started ${slow.id}$`), "the slow job to start");
    worker.signal("SIGTERM");
    await eventually(() => (worker.stderr.includes("SIGTERM: no new jobs; running ones have 60000 ms to finish") ? true : undefined), "the stopping note");
    // Claiming stopped: a job enqueued now stays pending.
    const late = await producer.enqueue("test.echo", { n: 2 });
    writeFileSync(releaseFile("finish"), "");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(await producer.getJob(slow.id)).toMatchObject({ status: "completed", result: { released: true } });
    expect(await producer.getJob(late.id)).toMatchObject({ status: "pending", attempt: 0 });
    await producer.cancel(late.id);
  });

  it("a job still running when the grace ends is aborted and released to pending without using an attempt", async () => {
    const worker = startWorker("--shutdown-grace-ms", "300");
    await ready(worker);
    const slow = await producer.enqueue("test.slow", { release: releaseFile("never") });
    await worker.waitForLine(new RegExp(`^started ${slow.id}$`), "the slow job to start");
    worker.signal("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(await producer.getJob(slow.id)).toMatchObject({ status: "pending", attempt: 0 });
    await producer.cancel(slow.id);
  });

  it("a second signal exits at once, without waiting for the grace", async () => {
    const worker = startWorker("--shutdown-grace-ms", "600000");
    await ready(worker);
    const stubborn = await producer.enqueue("test.slow", { release: releaseFile("stubborn"), ignoreSignal: true });
    await worker.waitForLine(new RegExp(`^started ${stubborn.id}$`), "the stubborn job to start");
    worker.signal("SIGINT");
    await eventually(() => (worker.stderr.includes("SIGINT: no new jobs") ? true : undefined), "the stopping note");
    worker.signal("SIGINT");
    expect(await worker.exited).toEqual({ code: 130, signal: null });
    expect(worker.stderr).toContain("SIGINT again: exiting now");
    // Its lease runs out and another worker gets it; here it is simply cancelled.
    writeFileSync(releaseFile("stubborn"), "");
    await producer.cancel(stubborn.id);
  });

  it.each([
    ["test/cli/fixtures/missing.mjs", "HANDLERS_MODULE", /^error: cannot find the handlers module test\/cli\/fixtures\/missing\.mjs \(looked at .+\)$/m],
    ["test/cli/fixtures/no-default.mjs", "HANDLERS_MODULE", /must export default a function \(queue\) => void that defines handlers; it exports defineHandlers$/m],
    ["test/cli/fixtures/no-handlers.mjs", "NO_HANDLERS", /defined no handlers/],
    ["test/cli/fixtures/throws.mjs", "HANDLERS_MODULE", /failed to load: broken on purpose$/m],
    ["test/cli/fixtures/define-throws.mjs", "HANDLERS_MODULE", /threw while defining handlers: invalid job type/],
    ["test/cli/fixtures", "HANDLERS_MODULE", /failed to load/],
  ])("refuses the handlers module %s (exit 1, %s)", async (module, code, message) => {
    const human = await runCli(["worker", "--handlers", module], env);
    expect(human.code, human.stderr).toBe(1);
    expect(human.stderr).toMatch(message);
    expect(human.stderr).not.toMatch(/\n\s+at /);
    const json = await runCli(["worker", "--handlers", module, "--json"], env);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stderr) as { error: { code: string } }).error.code).toBe(code);
  });

  it("a TypeScript handlers module gets a hint", async () => {
    const file = join(dir, "handlers.ts");
    writeFileSync(file, "export default (queue: unknown) => queue;\n");
    const result = await runCli(["worker", "--handlers", file], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/TypeScript\? compile it, or run with node --import tsx/);
  });

  it("--no-migrate on a schema never migrated fails instead of creating it", async () => {
    const result = await runCli(["worker", "--handlers", HANDLERS, "--no-migrate"], cliEnv(freshSchemaName()));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .*migrat/m);
  });
});
