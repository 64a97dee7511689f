// `npm run faults [-- --full] [vitest args]`: the fault suite on its own; --full runs every scenario at full size.
import { spawnSync } from "node:child_process";

const args = process.argv.slice(2);
const full = args.includes("--full");
const rest = args.filter((arg) => arg !== "--full");
const result = spawnSync("npx", ["vitest", "run", "--config", "vitest.faults.config.ts", ...rest], {
  stdio: "inherit",
  env: { ...process.env, ...(full ? { FAULTS_FULL: "1" } : {}) },
});
process.exit(result.status ?? 1);
