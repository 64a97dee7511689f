import postgres from "postgres";
import { afterEach, expect, it } from "vitest";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { deferred } from "../queue/support.js";
import { adminSql, databaseUrl, describePostgres, dropSchema, freshSchemaName } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";
import { blockedBy, heldInsert } from "./support/held-transaction.js";

// A database or role whose default isolation is not READ COMMITTED (ALTER DATABASE/ROLE ... SET
// default_transaction_isolation = 'repeatable read', as some fintech DBAs set it). Simulated per
// session with the connection parameter, so the shared server is untouched.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describePostgres("PostgresStorage on a server whose default isolation is repeatable read", () => {
  it.each(["the store's own pool (connectionString)", "an application pool given as sql"] as const)("%s: a dependent inserted while its dependency's completion waits for the insert's lock is unblocked", async (how) => {
    const schema = freshSchemaName();
    const app = postgres(databaseUrl, { max: 4, onnotice: () => undefined, connection: { default_transaction_isolation: "repeatable read" } });
    const admin = adminSql();
    const storage =
      how === "an application pool given as sql"
        ? new PostgresStorage({ sql: app, schema, listen: false })
        : new PostgresStorage({ connectionString: `${databaseUrl}?default_transaction_isolation=repeatable%20read`, schema, listen: false });
    cleanups.push(async () => { await storage.close(); await app.end({ timeout: 5 }); await admin.end({ timeout: 5 }); await dropSchema(schema); });
    await storage.setup();

    const dependency = newJob();
    await storage.insertJobs({ jobs: [dependency], onDuplicate: "reject", now: new Date() });
    const { lease } = (await claimAny(storage, 1)).claimed[0]!;
    const dependent = newJob({ dependsOn: [dependency.id] });
    // The application's transaction enqueues the dependent (share-locking the running dependency)...
    const insert = await heldInsert(admin, storage, [dependent]);
    // ...while the worker stores the dependency's completion, which waits for that lock.
    const settling = storage.settle([{ lease, outcome: { type: "completed", result: null } }], new Date());
    await blockedBy(admin, [insert.pid]);
    await insert.commit();
    const [result] = await settling;
    expect(result?.type).toBe("settled");
    expect((await storage.getJob(dependency.id))?.status).toBe("completed");
    // The dependency completed; its dependent must be runnable, not blocked for good.
    expect((await storage.getJob(dependent.id))?.status).toBe("pending");
  });
});

describePostgres("A ctx.tx handler on a server whose default isolation is repeatable read", () => {
  it("a dependent enqueued while its dependency's handler runs in ctx.tx starts once the dependency completed", async () => {
    const { Queue } = await import("../../src/queue.js");
    const { attemptSql } = await import("../../src/storage/postgres/index.js");
    const schema = freshSchemaName();
    const storage = new PostgresStorage({ connectionString: `${databaseUrl}?default_transaction_isolation=repeatable%20read`, schema, listen: false });
    const queue = new Queue({ storage, logger: false, pollIntervalMs: 50 });
    cleanups.push(async () => { await queue.shutdown(); await storage.close(); await dropSchema(schema); });
    const started = deferred();
    const release = deferred();
    const first = queue.defineHandler("first", {
      run: async (_payload, ctx) => {
        await attemptSql(ctx)`select 1`; // the handler's own work in ctx.tx, opened now
        started.resolve();
        await release.promise;
        return "done";
      },
    });
    queue.defineHandler("second", { run: async () => "second done" });
    await queue.start();
    const a = await queue.enqueue(first, {});
    await started.promise;
    const b = await queue.enqueue("second", {}, { dependsOn: [a.id] });
    expect(b.status).toBe("blocked");
    release.resolve();
    expect((await queue.waitFor(a.id, { timeoutMs: 10_000 })).status).toBe("completed");
    // b's only dependency completed: b must run. It stays blocked for good.
    const final = await queue.waitFor(b.id, { timeoutMs: 5_000 }).catch(async () => queue.getJob(b.id));
    expect(final?.status).toBe("completed");
  });
});
