import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The adapters serve the built dashboard (dist/dashboard), also when the tests run them from
 * source: build it once before the tests when it is not there (`npm run build` makes it too).
 */
export default function buildDashboardOnce(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  if (existsSync(join(root, "dist", "dashboard", "index.html"))) return;
  execFileSync(process.execPath, ["--import", "tsx", "dashboard/build.ts"], { cwd: root, stdio: "inherit" });
}
