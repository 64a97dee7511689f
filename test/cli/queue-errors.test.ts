import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { PostgresQueues } from "../postgres/support/queues.js";
import { describePostgres } from "../support/postgres.js";
import { assertBuilt, cliEnv, CliProcess, runCli } from "./cli-process.js";

/** A worker whose schedule's payload its handler refuses: that error repeats at every poll. */
describePostgres("jobgraph worker's queue errors on PostgreSQL", () => {
  const queues = new PostgresQueues();
  const running = new Set<CliProcess>();
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    assertBuilt();
    env = cliEnv(queues.schema);
    await queues.producer(); // migrates the schema
    // Stored from the shell, where no handler checks the payload; every tick of "bad" is refused by the worker's.
    for (const args of [
      ["schedules", "add", "bad", "--cron", "* * * * * *", "--type", "test.typed", "--payload", '{"n":"x"}'],
      ["schedules", "add", "good", "--cron", "* * * * * *", "--type", "test.echo", "--payload", '{"n":1}'],
    ]) {
      const added = await runCli(args, env);
      expect(added.code, added.stderr).toBe(0);
    }
  });

  afterEach(async () => {
    for (const worker of running) await worker.kill();
    running.clear();
  });

  afterAll(async () => {
    await queues.cleanup();
  });

  /** Starts a worker and waits until the "good" schedule has completed `ticks` jobs after the first error was printed. */
  async function workerThroughTicks(ticks: number, ...flags: string[]): Promise<CliProcess> {
    const worker = new CliProcess(["worker", "--handlers", "test/cli/fixtures/typed.mjs", ...flags], env);
    running.add(worker);
    const completed = flags.includes("--json") ? /^\{"event":"completed","id":"([0-9a-f-]{36})"/ : /^completed test\.echo ([0-9a-f-]{36}) in/;
    const seen = new Set<string>();
    let erroredAt: number | undefined;
    // A tick of "bad" is refused at each poll (at least once a second): by the time "good" ran `ticks` more
    // times, the same error came again and again.
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        if (!worker.alive) {
          clearInterval(poll);
          reject(new Error(`the worker exited: ${worker.stderr}`));
          return;
        }
        if (erroredAt === undefined && /schedule bad/.test(worker.stderr)) erroredAt = seen.size;
        for (const line of worker.stdout.split("\n")) {
          const id = completed.exec(line)?.[1];
          if (id !== undefined) seen.add(id);
        }
        if (erroredAt !== undefined && seen.size >= erroredAt + ticks) {
          clearInterval(poll);
          resolve();
        }
      }, 50);
    });
    return worker;
  }

  it("prints a repeating error once, on one line, not a stack dump per tick", async () => {
    const worker = await workerThroughTicks(3);
    worker.signal("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    const errors = worker.stderr.split("\n").filter((line) => line.includes("schedule bad"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: schedule bad: tick \S+Z: .*payload/);
    expect(worker.stderr).not.toMatch(/\n\s+at /);
    expect(worker.stderr).not.toContain("no queue:error listener");
  });

  it("with --json prints it as one JSON object on one line", async () => {
    const worker = await workerThroughTicks(3, "--json");
    worker.signal("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    const errors = worker.stderr.split("\n").filter((line) => line.startsWith("{"));
    expect(errors).toHaveLength(1);
    expect(JSON.parse(errors[0] as string)).toEqual({
      event: "error",
      code: "VALIDATION",
      message: expect.stringMatching(/payload/),
      context: expect.stringMatching(/^schedule bad: tick /),
      suppressed: 0,
    });
    expect(worker.stderr).not.toMatch(/\n\s+at /);
  });
});
