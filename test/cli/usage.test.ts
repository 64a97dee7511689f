import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, cliEnv, root, runCli } from "./cli-process.js";

// Nothing here reaches a database: usage is checked before any connection (the URL leads nowhere).
const env = cliEnv(undefined, { DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" });

const COMMANDS = [
  [],
  ["migrate"],
  ["worker"],
  ["serve"],
  ["jobs"],
  ["jobs", "list"],
  ["jobs", "show"],
  ["jobs", "logs"],
  ["jobs", "graph"],
  ["jobs", "cancel"],
  ["jobs", "retry"],
  ["jobs", "redrive"],
  ["schedules"],
  ["schedules", "list"],
  ["schedules", "add"],
  ["schedules", "remove"],
  ["stats"],
];

/** A usage error: exit 2, commander's one-line message and one line of help, no stack trace. */
async function expectUsageError(args: readonly string[], message: RegExp, runEnv = env): Promise<void> {
  const result = await runCli(args, runEnv);
  expect(result.code, result.stderr).toBe(2);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).toContain("(add --help for usage)");
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stdout).toBe("");
}

describe("jobgraph usage", () => {
  beforeAll(assertBuilt);

  it.each(COMMANDS.map((path) => [path.join(" ") || "(root)", path] as const))("--help on %s prints its usage and exits 0", async (_name, path) => {
    const result = await runCli([...path, "--help"], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: jobgraph${path.length === 0 ? "" : ` ${path.join(" ")}`}`);
    // The global options are listed on every command.
    expect(result.stdout).toContain("--database-url <url>");
  });

  it("--version prints the package's version", async () => {
    const { version } = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { version: string };
    const result = await runCli(["--version"], env);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it.each([
    [["frob"], /unknown command 'frob'/],
    [["jobs", "frob"], /unknown command 'frob'/],
    [["schedules", "frob"], /unknown command 'frob'/],
    [["jobs", "show"], /missing required argument 'id'/],
    [["jobs", "list", "extra"], /too many arguments/],
    [["jobs", "list", "--bogus"], /unknown option '--bogus'/],
    [["worker"], /required option '--handlers <module>' not specified/],
    [["schedules", "add", "nightly", "--cron", "0 3 * * *"], /required option '--type <type>' not specified/],
  ])("%j is a usage error", async (args, message) => expectUsageError(args, message));

  it.each([
    [["jobs", "list", "--limit", "abc"]],
    [["jobs", "list", "--limit", "0"]],
    [["jobs", "list", "--limit", "1001"]],
    [["jobs", "list", "--limit", "1e3"]],
    [["jobs", "list", "--limit", "-5"]],
    [["jobs", "list", "--limit", "99999999999999999999"]],
    [["jobs", "redrive", "--limit", "2.5"]],
    [["jobs", "redrive", "--limit", "10001"]],
    [["worker", "--handlers", "h.mjs", "--concurrency", "0"]],
    [["worker", "--handlers", "h.mjs", "--concurrency", "ten"]],
    [["worker", "--handlers", "h.mjs", "--prefetch", "-1"]],
    [["worker", "--handlers", "h.mjs", "--shutdown-grace-ms", "soon"]],
    [["serve", "--port", "70000"]],
    [["serve", "--port", ""]],
  ])("a bad number %j is a usage error", async (args) => expectUsageError(args, /argument .* is invalid\. expected a whole number from/));

  it.each([
    [["worker", "--handlers", "h.mjs", "--capacity", "cpu=lots"], /expected name=number pairs/],
    [["worker", "--handlers", "h.mjs", "--capacity", "cpu=1,cpu=2"], /cpu is given twice/],
    [["worker", "--handlers", "h.mjs", "--capacity", "__proto__=1"], /expected name=number pairs/],
    [["jobs", "list", "--status", "done"], /expected one of blocked, pending, running, completed, failed, cancelled/],
    [["jobs", "list", "--type", ""], /expected a non-empty name/],
    [["jobs", "redrive", "--status", "completed"], /expected one of failed, cancelled/],
    [["jobs", "redrive", "--finished-after", "yesterday"], /expected an ISO 8601 date/],
    [["jobs", "redrive", "--finished-before", "2026-13-45"], /expected an ISO 8601 date/],
    // A day that does not exist (Date would roll it over to March 3), a time without its offset (the host's zone).
    [["jobs", "redrive", "--finished-after", "2026-02-31"], /expected an ISO 8601 date/],
    [["jobs", "redrive", "--finished-after", "2026-12-04T10:00:00"], /expected an ISO 8601 date/],
    [["schedules", "add", "n", "--cron", "* * * * *", "--type", "t", "--payload", "{nope"], /expected JSON/],
  ])("a bad value %j is a usage error", async (args, message) => expectUsageError(args, message));

  it.each([
    [["serve", "--worker"], /serve --worker needs --handlers <module>/],
    [["serve", "--handlers", "h.mjs"], /--handlers is for serve --worker/],
    [["serve", "--prefix", "api"], /--prefix must be a path/],
  ])("%j is refused as usage before anything starts", async (args, message) => expectUsageError(args, message));

  it("without --database-url or DATABASE_URL, a command that needs the database is a usage error", async () => {
    const noDatabase = cliEnv(undefined);
    delete noDatabase.DATABASE_URL;
    await expectUsageError(["jobs", "list"], /no database: pass --database-url or set DATABASE_URL/, noDatabase);
    await expectUsageError(["migrate", "--json"], /"code": "USAGE"/, noDatabase);
  });

  it.each([["not a url"], ["mysql://root:hunter2@127.0.0.1/db"]])("a database URL that is not postgres:// (%s) is a usage error that does not repeat it", async (url) => {
    await expectUsageError(["stats", "--database-url", url], /^error: the database URL is not a postgres:\/\/ URL$/m);
    const result = await runCli(["stats"], { ...env, DATABASE_URL: url });
    expect(result.code).toBe(2);
    expect(result.stderr).not.toContain("hunter2");
  });

  it("a database that does not answer is a failure (exit 1) with the driver's reason, not a usage error", async () => {
    const result = await runCli(["stats"], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .*ECONNREFUSED/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
