import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

// An application may mix the builds: an ESM `Queue` with a store from `require("jobgraph/postgres")`
// (a CommonJS dependency of its own, say). Each build has its own copy of the error classes; an
// error thrown by one copy must still be recognised by the other's classes and by isQueueError.
const script = `
import { createRequire } from "node:module";
import * as esm from "jobgraph";
const require = createRequire(import.meta.url);
const cjs = require("jobgraph");
const { PostgresStorage } = require("jobgraph/postgres");

const check = (error, classes) => ({
  name: error.name,
  queueError: error instanceof classes.QueueError,
  validationError: error instanceof classes.ValidationError,
  jobNotFound: error instanceof classes.JobNotFoundError,
  isQueueError: classes.isQueueError?.(error) ?? "missing",
  permanent: error instanceof classes.PermanentError,
});

const out = {};
// A ValidationError thrown by the CommonJS store, checked with the ESM classes.
try { new PostgresStorage({ schema: 42 }); } catch (e) { out.cjsValidation = check(e, esm); }
// A JobNotFoundError from the CommonJS store handed to an ESM Queue (no database needed: the id is not a uuid).
const queue = new esm.Queue({ storage: new PostgresStorage({ connectionString: "postgres://127.0.0.1:1/none" }) });
try { await queue.storage.retryJob("not-a-job"); } catch (e) { out.cjsNotFound = check(e, esm); }
// And the other way round: an ESM error checked with the CommonJS classes.
out.esmValidation = check(new esm.ValidationError("x"), cjs);
out.esmPermanent = check(new esm.PermanentError("x"), cjs);
// Within one build a subclass is still only its own kind.
out.sameCopy = { validationIsNotFound: new esm.ValidationError("x") instanceof esm.JobNotFoundError, plainError: new Error("x") instanceof esm.QueueError, isQueueError: esm.isQueueError?.(new Error("x")) ?? "missing" };
await queue.storage.close();
console.log(JSON.stringify(out));
`;

describe("errors across the ESM and CommonJS builds", () => {
  it("are instances of the other build's classes and pass isQueueError", () => {
    const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8", timeout: 20_000 });
    const common = { permanent: false, isQueueError: true };
    expect(JSON.parse(output.trim().split("\n").pop() ?? "{}")).toEqual({
      cjsValidation: { ...common, name: "ValidationError", queueError: true, validationError: true, jobNotFound: false },
      cjsNotFound: { ...common, name: "JobNotFoundError", queueError: true, validationError: false, jobNotFound: true },
      esmValidation: { ...common, name: "ValidationError", queueError: true, validationError: true, jobNotFound: false },
      esmPermanent: { name: "PermanentError", queueError: false, validationError: false, jobNotFound: false, isQueueError: false, permanent: true },
      sameCopy: { validationIsNotFound: false, plainError: false, isQueueError: false },
    });
  });
});
