import { PeerDependencyMissingError } from "jobgraph";

/**
 * Runs `load` (a dynamic import of an optional peer, or of an entry that needs one), turning "cannot
 * find `packageName`" into a `PeerDependencyMissingError` that says what to install. The command line
 * loads them only where a command needs them, so `jobgraph --help` works without any.
 */
export async function importOptionalPeer<T>(packageName: string, feature: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    if (code === "ERR_MODULE_NOT_FOUND" && typeof message === "string" && message.includes(`'${packageName}'`)) throw new PeerDependencyMissingError(packageName, feature, error);
    throw error;
  }
}
