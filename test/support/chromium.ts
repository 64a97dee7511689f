import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { describe } from "vitest";

// The browser tests drive Debian's Chromium (`apt-get install chromium`) through playwright-core;
// no browser is ever downloaded. Without it they are skipped loudly, or fail when CI=true.

function findChromium(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const dirs = (process.env.PATH ?? "").split(delimiter).filter((dir) => dir !== "");
  for (const name of ["chromium", "chromium-browser"]) {
    for (const dir of [...dirs, "/usr/bin"]) {
      const path = join(dir, name);
      if (existsSync(path)) return path;
    }
  }
  return undefined;
}

/** Where Chromium is, or undefined (outside CI only) when it is not installed. */
export const chromiumPath: string | undefined = (() => {
  const found = findChromium();
  if (found === undefined && process.env.CI === "true") {
    throw new Error("Browser tests need Chromium in CI (CI=true): apt-get install -y chromium, or set CHROMIUM_PATH");
  }
  if (found === undefined) console.warn("\n*** SKIPPING browser tests: no chromium found (apt-get install chromium, or set CHROMIUM_PATH). ***\n");
  return found;
})();

/** `describe` that runs only when Chromium is installed (and says so when it is not). */
export const describeBrowser = (name: string, fn: () => void) => (chromiumPath !== undefined ? describe(name, fn) : describe.skip(name, fn));

/** A headless Chromium. */
export function launchChromium(): Promise<Browser> {
  if (chromiumPath === undefined) throw new Error("no chromium");
  return chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
}
