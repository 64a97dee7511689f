import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { UNREADABLE_ERROR, toErrorInfo } from "../../src/errors.js";
import { unreadableThrows } from "./fixtures/unreadable-values.js";
import { closeAll, newQueue, untilStatus } from "./support.js";

afterEach(closeAll);

const FIXTURE = fileURLToPath(new URL("./fixtures/unreadable-throw.ts", import.meta.url));
const KINDS = Object.keys(unreadableThrows);

/** Runs the fixture for `kind`; answers its exit code and output. Bounded: killed after 30 s. */
function runFixture(kind: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, kind], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("a handler that throws a value that cannot be read", () => {
  it.each(KINDS)("toErrorInfo of %s is the generic unreadable error, never a throw", (kind) => {
    const info = toErrorInfo(unreadableThrows[kind]?.());
    expect(info).toEqual(UNREADABLE_ERROR);
  });

  it.each(KINDS)("%s: the job fails with the unreadable error and the queue runs on", async (kind) => {
    const tq = newQueue();
    tq.queue.defineHandler("bad", {
      retry: { maxAttempts: 1 },
      run: () => {
        throw unreadableThrows[kind]?.();
      },
    });
    tq.queue.defineHandler("after", { run: () => "still here" });
    await tq.queue.start();
    const bad = await tq.queue.enqueue("bad", {});
    expect(await untilStatus(tq, bad.id, "failed")).toMatchObject({ error: { name: "Error", message: "unreadable error" }, attempt: 1 });
    const after = await tq.queue.enqueue("after", {});
    expect(await untilStatus(tq, after.id, "completed")).toMatchObject({ result: "still here" });
  });

  it.each(KINDS)("%s: the process lives on (a child process)", async (kind) => {
    const { code, stdout, stderr } = await runFixture(kind);
    expect({ code, stderr: stderr.slice(0, 2_000) }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(stdout.trim())).toEqual({ status: "failed", error: { name: "Error", message: "unreadable error" }, after: "completed" });
  }, 40_000);
});
