import { afterAll, beforeAll, expect, it } from "vitest";
import { PostgresQueues } from "../postgres/support/queues.js";
import { describePostgres } from "../support/postgres.js";
import { assertBuilt, cliEnv, CliProcess, HANDLERS, runCli, runCliJson } from "./cli-process.js";

interface ScheduleJson {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string | null;
  readonly type: string;
  readonly payload: unknown;
  readonly options: Record<string, unknown>;
  readonly misfire: string;
  readonly nextRunAt: string | null;
  readonly lastRunAt: string | null;
}

describePostgres("jobgraph schedules on PostgreSQL", () => {
  const queues = new PostgresQueues();
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    assertBuilt();
    env = cliEnv(queues.schema);
    await queues.producer();
  });

  afterAll(async () => queues.cleanup());

  it("adds, lists and removes a schedule", async () => {
    expect(await runCli(["schedules", "list"], env)).toMatchObject({ code: 0, stdout: "no schedules\n" });
    const added = await runCli(["schedules", "add", "nightly", "--cron", "0 3 * * *", "--timezone", "Europe/Berlin", "--type", "reports.build", "--payload", '{"kind":"daily"}', "--options", '{"priority":"low"}'], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^scheduled nightly: reports\.build at "0 3 \* \* \*" Europe\/Berlin, next run \d{4}-\d{2}-\d{2}T0[12]:00:00Z\n$/);

    const listed = await runCliJson<ScheduleJson[]>(["schedules", "list"], env);
    expect(listed).toEqual([
      { name: "nightly", cron: "0 3 * * *", timezone: "Europe/Berlin", type: "reports.build", payload: { kind: "daily" }, options: { priority: "low" }, misfire: "run-once", nextRunAt: expect.any(String), lastRunAt: null },
    ]);
    const table = await runCli(["schedules", "list"], env);
    expect(table.stdout).toMatch(/^NAME\s+CRON\s+TIMEZONE\s+TYPE\s+NEXT RUN\s+LAST RUN$/m);
    expect(table.stdout).toMatch(/^nightly\s+0 3 \* \* \*\s+Europe\/Berlin\s+reports\.build\s+\d{4}-.+\s+-$/m);

    // The same name again replaces it.
    const replaced = await runCliJson<ScheduleJson>(["schedules", "add", "nightly", "--cron", "*/5 * * * *", "--type", "reports.build", "--misfire", "skip"], env);
    expect(replaced).toMatchObject({ name: "nightly", cron: "*/5 * * * *", timezone: null, misfire: "skip" });
    expect(await runCliJson<ScheduleJson[]>(["schedules", "list"], env)).toHaveLength(1);

    expect(await runCli(["schedules", "remove", "nightly"], env)).toMatchObject({ code: 0, stdout: "removed nightly\n" });
    const again = await runCli(["schedules", "remove", "nightly", "--json"], env);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stderr)).toEqual({ error: { code: "SCHEDULE_NOT_FOUND", message: "no schedule named nightly" } });
  });

  it.each([
    [["--cron", "not a cron", "--type", "t"]],
    [["--cron", "* * * * *", "--type", "t", "--timezone", "Mars/Olympus"]],
    [["--cron", "* * * * *", "--type", "no spaces allowed"]],
    [["--cron", "* * * * *", "--type", "t", "--options", '{"priority":"urgent"}']],
    [["--cron", "61 * * * *", "--type", "t"]],
    [["--cron", "", "--type", "t"]],
  ])("a schedule the queue refuses (%j) is a usage error (exit 2) with VALIDATION, and stores nothing", async (flags) => {
    const result = await runCli(["schedules", "add", "bad", ...flags, "--json"], env);
    expect(result.code).toBe(2);
    expect((JSON.parse(result.stderr) as { error: { code: string } }).error.code).toBe("VALIDATION");
    expect(await runCliJson<ScheduleJson[]>(["schedules", "list"], env)).toEqual([]);
  });

  it("a schedule added from the shell is fired by a jobgraph worker", async () => {
    await runCliJson(["schedules", "add", "every-second", "--cron", "* * * * * *", "--type", "test.echo", "--payload", '{"n":9}'], env);
    const worker = new CliProcess(["worker", "--handlers", HANDLERS], env);
    try {
      const [, id] = await worker.waitForLine(/^completed test\.echo ([0-9a-f-]{36}) in \d+ ms$/, "a scheduled job to complete");
      const job = await runCliJson<{ payload: unknown; idempotencyKey: string }>(["jobs", "show", id as string], env);
      expect(job.payload).toEqual({ n: 9 });
      expect(job.idempotencyKey).toMatch(/^schedule:every-second:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$/);
      expect((await runCliJson<ScheduleJson[]>(["schedules", "list"], env))[0]?.lastRunAt).not.toBeNull();
    } finally {
      worker.signal("SIGTERM");
      await worker.exited;
      await runCli(["schedules", "remove", "every-second"], env);
    }
  });

  it("a refused schedule's reason is printed once for people", async () => {
    const result = await runCli(["schedules", "add", "bad", "--cron", "* * * * *", "--type", "t", "--timezone", ""], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: invalid schedule: timezone: /);
    expect(result.stderr.match(/timezone: /g)).toHaveLength(1);
  });

  it("a time zone typed in the wrong case is kept by its canonical name", async () => {
    const added = await runCliJson<ScheduleJson>(["schedules", "add", "berlin", "--cron", "0 3 * * *", "--type", "t", "--timezone", "europe/berlin"], env);
    expect(added.timezone).toBe("Europe/Berlin");
    expect((await runCliJson<ScheduleJson[]>(["schedules", "list"], env)).map((s) => s.timezone)).toEqual(["Europe/Berlin"]);
    await runCli(["schedules", "remove", "berlin"], env);
  });

  it("an unknown misfire policy is a usage error", async () => {
    const result = await runCli(["schedules", "add", "n", "--cron", "* * * * *", "--type", "t", "--misfire", "burst"], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Allowed choices are run-once, skip/);
  });
});
