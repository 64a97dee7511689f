import { afterEach, expect, it } from "vitest";
import { adminSql, describePostgres, newPostgresStorage } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describePostgres("PostgresStorage history in the job row", () => {
  it("writes no job_logs row for any status change: claims, settles, unblocks, cascades, cancels, retries", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
    const sql = adminSql();
    cleanups.push(async () => {
      await sql.end();
      await cleanup();
    });
    const logRows = async () => (await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.job_logs`)[0]?.n;
    const root = newJob();
    const child = newJob({ dependsOn: [root.id] });
    const doomed = newJob();
    const victim = newJob({ dependsOn: [doomed.id] });
    const waiting = newJob({ runAt: new Date(Date.now() + 3_600_000) });
    const plain = Array.from({ length: 20 }, () => newJob());
    await storage.insertJobs({ jobs: [root, child, doomed, victim, waiting], onDuplicate: "reject", now: new Date() });
    await storage.insertJobs({ jobs: plain, onDuplicate: "reject", now: new Date() });

    const first = await claimAny(storage, 50);
    const outcome = (id: string) =>
      id === doomed.id ? { type: "failed" as const, error: { name: "E", message: "no" } }
        : id === plain[0]!.id ? { type: "retry" as const, error: { name: "E", message: "again" }, runAt: new Date(Date.now() - 1_000) }
          : { type: "completed" as const, result: { ok: true } };
    await storage.settle(first.claimed.map(({ job, lease }) => ({ lease, outcome: outcome(job.id) })), new Date());
    expect((await storage.getJob(child.id))?.status).toBe("pending");
    expect((await storage.getJob(victim.id))?.status).toBe("cancelled");
    const second = await claimAny(storage, 50);
    await storage.settle(second.claimed.map(({ lease }) => ({ lease, outcome: { type: "interrupted" as const } })), new Date());
    await storage.cancelJobs([waiting.id], new Date());
    await storage.retryJob(doomed.id, new Date());
    expect(await logRows()).toBe(0);

    // Handler lines are what job_logs holds.
    await storage.appendLogs([{ jobId: child.id, attempt: 1, at: new Date(), level: "info", message: "line" }]);
    expect(await logRows()).toBe(1);
    expect((await storage.listLogs(waiting.id)).map((entry) => entry.message)).toEqual(["pending", "cancelled"]);
    expect((await storage.listLogs(victim.id)).map((entry) => entry.message)).toEqual(["blocked", "cancelled", "blocked"]);
  });
});
