import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Queue } from "jobgraph";
import { CliError } from "./cli-error.js";

/**
 * Loads the module given to `--handlers` (a path, from the working directory) and calls its default
 * export with the queue, which defines the handlers. Answers the job types it defined; a module that
 * is missing, fails to load, has no default function or defines nothing is a `CliError` naming it.
 */
export async function loadHandlers(specifier: string, queue: Queue, cwd = process.cwd()): Promise<string[]> {
  const path = resolve(cwd, specifier);
  if (!existsSync(path)) throw new CliError("HANDLERS_MODULE", `cannot find the handlers module ${specifier} (looked at ${path})`);
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    const hint = (error as { code?: unknown }).code === "ERR_UNKNOWN_FILE_EXTENSION" ? " (TypeScript? compile it, or run with node --import tsx)" : "";
    throw new CliError("HANDLERS_MODULE", `the handlers module ${specifier} failed to load${hint}: ${(error as Error).message ?? String(error)}`, { cause: error });
  }
  const define = loaded.default;
  if (typeof define !== "function") {
    const names = Object.keys(loaded).filter((name) => name !== "default");
    throw new CliError(
      "HANDLERS_MODULE",
      `the handlers module ${specifier} must export default a function (queue) => void that defines handlers; ` +
        (names.length === 0 ? "it exports nothing" : `it exports ${names.join(", ")}`),
    );
  }
  const types: string[] = [];
  // The module's function sees the queue as is; only defineHandler is watched, to know what it defined.
  const watched = new Proxy(queue, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property === "defineHandler") {
        return (type: string, definition: unknown) => {
          const ref = target.defineHandler(type, definition as never);
          types.push(ref.type);
          return ref;
        };
      }
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  try {
    await (define as (queue: Queue) => unknown)(watched);
  } catch (error) {
    throw new CliError("HANDLERS_MODULE", `the handlers module ${specifier} threw while defining handlers: ${(error as Error).message ?? String(error)}`, { cause: error });
  }
  if (types.length === 0) throw new CliError("NO_HANDLERS", `the handlers module ${specifier} defined no handlers (call queue.defineHandler in its default export)`);
  return types;
}
