import { createRequire } from "node:module";
import { PeerDependencyMissingError } from "../src/index.js";

// The optional peers (ws, @fastify/websocket, prom-client) are loaded where a feature first needs
// them, never when an adapter is imported: a user who wants neither the status socket nor
// Prometheus metrics installs neither. (`import.meta.url` is shimmed in the CommonJS build.)
const requireFromHere = createRequire(import.meta.url);

/** Whether `error` says that `packageName` itself (not something it imports) cannot be found. */
function isMissing(error: unknown, packageName: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = (error as { message?: unknown } | null)?.message;
  return (code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND") && typeof message === "string" && message.includes(`'${packageName}'`);
}

/** `require(packageName)`, or a `PeerDependencyMissingError` naming the package and `feature`. */
export function requirePeer<T>(packageName: string, feature: string): T {
  try {
    return requireFromHere(packageName) as T;
  } catch (error) {
    if (isMissing(error, packageName)) throw new PeerDependencyMissingError(packageName, feature, error);
    throw error;
  }
}

/** Runs `load` (a dynamic import), turning a missing `packageName` into a `PeerDependencyMissingError`. */
export async function importPeer<T>(packageName: string, feature: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissing(error, packageName)) throw new PeerDependencyMissingError(packageName, feature, error);
    throw error;
  }
}
