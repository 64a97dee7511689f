import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

interface RunArgsModule {
  parseRunArgs(argv: readonly string[]): { quick: boolean; rounds: number; memoryRounds: number; only: string[] | undefined; workloads: string[] | undefined };
}
/** bench/ is outside the type-checked project (its own dependencies); loaded by URL. */
const load = async () => (await import(pathToFileURL(`${root}/bench/lib/run-args.ts`).href)) as RunArgsModule;

it("bench/run.ts refuses unknown flags, missing values and malformed numbers, with its usage", async () => {
  const { parseRunArgs } = await load();
  for (const argv of [["--round", "5"], ["--rounds"], ["--rounds", "x"], ["--rounds", "0"], ["--workloads", "seq,nope"], ["extra"]]) {
    expect(() => parseRunArgs(argv), argv.join(" ")).toThrow(/usage: node --import tsx bench\/run\.ts/);
  }
});

it("bench/run.ts reads the flags it documents", async () => {
  const { parseRunArgs } = await load();
  expect(parseRunArgs([])).toEqual({ quick: false, rounds: 3, memoryRounds: 1, only: undefined, workloads: undefined });
  expect(parseRunArgs(["--quick", "--rounds", "5", "--memory-rounds=0", "--only", "jobgraph,pg-boss", "--workloads", "seq,dag"])).toEqual({
    quick: true,
    rounds: 5,
    memoryRounds: 0,
    only: ["jobgraph", "pg-boss"],
    workloads: ["seq", "dag"],
  });
});

it("a bench script given an unknown flag exits 2 with its usage instead of running", () => {
  const run = spawnSync(process.execPath, ["--import", "tsx", "bench/top-functions.ts", "--bogus"], { cwd: root, encoding: "utf8", timeout: 30_000 });
  expect(run.status).toBe(2);
  expect(run.stderr).toMatch(/Unknown option '--bogus'/);
  expect(run.stderr).toMatch(/usage: node --import tsx bench\/top-functions\.ts/);
});
