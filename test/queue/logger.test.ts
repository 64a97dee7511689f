import Fastify from "fastify";
import { afterEach, describe, expect, it, vi } from "vitest";
import { StorageError, ValidationError } from "../../src/errors.js";
import type { Logger } from "../../src/options.js";
import { Queue } from "../../src/queue.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import { closeAll, newQueue, runUntil, wrapStorage } from "./support.js";

afterEach(() => {
  vi.restoreAllMocks();
  return closeAll();
});

/** A store whose every claim fails, as one with a broken schema would. */
function failingClaims() {
  return wrapStorage(new MemoryStorage(), {
    claimJobs: async () => {
      throw new StorageError("PostgreSQL operation failed (22P02)");
    },
  });
}

/** A logger that keeps what it is given. */
function capturingLogger(): Logger & { readonly errors: unknown[][]; readonly warnings: unknown[][] } {
  const errors: unknown[][] = [];
  const warnings: unknown[][] = [];
  return { errors, warnings, error: (...args: unknown[]) => void errors.push(args), warn: (...args: unknown[]) => void warnings.push(args) };
}

describe("logger", () => {
  it("gets a queue:error nobody listens to, with its error and context", async () => {
    const logger = capturingLogger();
    const tq = newQueue({ storage: failingClaims(), logger });
    tq.queue.defineHandler("t", { run: () => "ok" });
    await tq.queue.start();
    await runUntil(tq.clock, () => logger.errors.length > 0);
    const [object, message] = logger.errors[0] ?? [];
    expect(object).toMatchObject({ err: expect.any(StorageError), context: "claim" });
    expect(message).toMatch(/claim/);
  });

  it("is the console by default", async () => {
    const printed: unknown[][] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void printed.push(args));
    // newQueue silences the logger unless told otherwise; undefined is the default.
    const tq = newQueue({ storage: failingClaims(), logger: undefined });
    tq.queue.defineHandler("t", { run: () => "ok" });
    await tq.queue.start();
    await runUntil(tq.clock, () => printed.length > 0);
    expect(printed[0]?.[0]).toMatchObject({ err: expect.any(StorageError), context: "claim" });
  });

  it("takes a pino logger (Fastify's app.log is one): the line carries the error and its context", async () => {
    const lines: string[] = [];
    const app = Fastify({ logger: { level: "warn", stream: { write: (line: string) => void lines.push(line) } } });
    const logger: Logger = app.log;
    const tq = newQueue({ storage: failingClaims(), logger });
    tq.queue.defineHandler("t", { run: () => "ok" });
    await tq.queue.start();
    await runUntil(tq.clock, () => lines.length > 0);
    expect(JSON.parse(lines[0] ?? "{}")).toMatchObject({ level: 50, context: "claim", err: { type: "StorageError", message: expect.stringContaining("22P02") }, msg: expect.stringContaining("claim") });
    await app.close();
  });

  it("is not called when a listener handles queue:error", async () => {
    const logger = capturingLogger();
    const tq = newQueue({ storage: failingClaims(), logger });
    const seen: string[] = [];
    tq.queue.on("queue:error", ({ context }) => seen.push(context));
    tq.queue.defineHandler("t", { run: () => "ok" });
    await tq.queue.start();
    await runUntil(tq.clock, () => seen.length >= 2);
    expect(logger.errors).toEqual([]);
  });

  it("logger: false silences it", async () => {
    const printed: unknown[][] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void printed.push(args));
    let claims = 0;
    const storage = wrapStorage(new MemoryStorage(), {
      claimJobs: async () => {
        claims += 1;
        throw new StorageError("down");
      },
    });
    const tq = newQueue({ storage, logger: false });
    tq.queue.defineHandler("t", { run: () => "ok" });
    await tq.queue.start();
    await runUntil(tq.clock, () => claims >= 3);
    expect(printed).toEqual([]);
  });

  it("a logger that throws does not break the queue", async () => {
    const tq = newQueue({ logger: { warn: () => undefined, error: () => { throw new Error("logger down"); } } });
    tq.queue.defineHandler("t", { run: () => "ok" });
    await tq.queue.start();
    tq.queue.on("job:completed", () => {
      throw new Error("listener fails");
    });
    const job = await tq.queue.enqueue("t", {});
    await runUntil(tq.clock, async () => (await tq.queue.getJob(job.id))?.status === "completed");
  });

  it.each<[string, unknown]>([
    ["true", true],
    ["a string", "console"],
    ["an object without error", { warn: () => undefined }],
    ["an object whose error is not a function", { warn: () => undefined, error: "no" }],
    ["null", null],
  ])("is refused as %s with a ValidationError", (_name, logger) => {
    expect(() => new Queue({ logger } as never)).toThrow(ValidationError);
    try {
      new Queue({ logger } as never);
    } catch (error) {
      expect((error as ValidationError).issues.map((i) => i.path)).toContain("logger");
    }
  });
});
