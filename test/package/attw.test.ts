import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);

// The tarball `npm pack` makes of the built package, checked by the tools a user's toolchain
// trusts: @arethetypeswrong/cli (types resolve to the right format under node10, node16 from CJS
// and from ESM, and bundler, for every entry) and publint (package.json fields and files agree).
// Packed into a directory of its own, so that no other test packing at the same time collides.
let directory: string;
let tarball: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), "jobgraph-pack-"));
  execFileSync("npm", ["pack", "--silent", "--pack-destination", directory], { cwd: root, encoding: "utf8", timeout: 60_000 });
  const [file] = readdirSync(directory).filter((name) => name.endsWith(".tgz"));
  if (file === undefined) throw new Error("npm pack made no tarball");
  tarball = join(directory, file);
}, 90_000);

afterAll(() => {
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
});

interface AttwReport {
  readonly analysis: {
    readonly problems: readonly unknown[];
    readonly entrypoints: Record<string, { readonly resolutions: Record<string, { readonly resolution?: { readonly fileName: string } }> }>;
  };
}

describe("the packed package", () => {
  it("has types that resolve for every entry under node10, node16 (CJS and ESM) and bundler (attw)", () => {
    // attw exits non-zero when it finds problems; the JSON report says which.
    let output: string;
    try {
      output = execFileSync(bin("attw"), [tarball, "--format", "json"], { cwd: directory, encoding: "utf8", timeout: 120_000 });
    } catch (error) {
      output = (error as { stdout?: string }).stdout ?? "";
    }
    const report = JSON.parse(output) as AttwReport;
    expect(report.analysis.problems).toEqual([]);
    const entrypoints = report.analysis.entrypoints;
    expect(Object.keys(entrypoints).sort()).toEqual([".", "./express", "./fastify", "./package.json", "./postgres"]);
    for (const [entry, { resolutions }] of Object.entries(entrypoints)) {
      for (const kind of ["node10", "node16-cjs", "node16-esm", "bundler"]) {
        expect(resolutions[kind]?.resolution?.fileName, `${entry} under ${kind}`).toBeDefined();
      }
    }
  }, 150_000);

  it("ships its LICENSE, declares postgres an optional peer, and bundles the ESM-only p-timeout into the CommonJS build", () => {
    const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).split("\n");
    expect(files).toContain("package/LICENSE");
    const manifest = JSON.parse(execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" })) as Record<string, Record<string, unknown>>;
    expect(Object.keys(manifest.dependencies ?? {})).not.toContain("p-limit");
    expect(Object.keys(manifest.dependencies ?? {})).not.toContain("postgres");
    expect(manifest.peerDependencies?.postgres).toBeDefined();
    expect(manifest.peerDependenciesMeta?.postgres).toEqual({ optional: true });
    for (const field of ["repository", "homepage", "bugs", "keywords"]) expect(manifest[field], field).toBeDefined();
    const requiresPTimeout = files.filter((file) => file.endsWith(".cjs") && execFileSync("tar", ["-xzOf", tarball, file], { encoding: "utf8" }).includes('require("p-timeout")'));
    expect(requiresPTimeout).toEqual([]);
  });

  it("passes publint", () => {
    const output = execFileSync(bin("publint"), ["run", tarball, "--strict"], { cwd: directory, encoding: "utf8", timeout: 60_000 });
    expect(output).toContain("All good!");
  }, 90_000);
});
