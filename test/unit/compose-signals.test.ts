import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), "utf8");

/**
 * `docker compose stop` sends SIGTERM to the container's first process: it must be node itself
 * (exec form), not npx or npm (which do not pass it on: the worker would run on until SIGKILL) nor a shell.
 */
describe("the example containers run node so that SIGTERM reaches it", () => {
  it("every docker-compose command is the exec form of node", () => {
    const commands = [...read("docker-compose.yml").matchAll(/^\s+command:\s*\n?\s*(.+)$/gm)].map((m) => m[1] as string);
    expect(commands.length).toBeGreaterThan(0);
    for (const command of commands) {
      expect(command).toMatch(/^\["node",/);
      expect(command).not.toMatch(/"(npx|npm|sh|bash)"/);
    }
  });

  it("the Dockerfile starts nothing through npx, npm or a shell form", () => {
    const starts = read("examples/Dockerfile")
      .split("\n")
      .filter((line) => /^(CMD|ENTRYPOINT)\b/.test(line));
    for (const line of starts) expect(line).toMatch(/^(CMD|ENTRYPOINT) \["node",/);
  });
});
