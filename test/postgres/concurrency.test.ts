import { afterEach, expect, it } from "vitest";
import { SchemaTooNewError } from "../../src/errors.js";
import { LATEST_VERSION, PostgresStorage } from "../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, describePostgres, dropSchema, freshSchemaName, newPostgresStorage } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describePostgres("PostgresStorage under concurrency", () => {
  it("applies each migration once when 20 processes set up at once", async () => {
    const schema = freshSchemaName();
    const stores = Array.from({ length: 20 }, () => new PostgresStorage({ connectionString: databaseUrl, schema, max: 1, listen: false }));
    cleanups.push(async () => {
      await Promise.all(stores.map((s) => s.close()));
      await dropSchema(schema);
    });
    await Promise.all(stores.map((s) => s.setup()));
    const sql = adminSql();
    try {
      const rows = await sql<{ version: number; n: string }[]>`select version, count(*)::text as n from ${sql(schema)}.migrations group by version order by version`;
      expect(rows.map((r) => [r.version, r.n])).toEqual(Array.from({ length: LATEST_VERSION }, (_, i) => [i + 1, "1"]));
    } finally {
      await sql.end();
    }
  });

  it("refuses a database newer than the code", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const sql = adminSql();
    try {
      await sql`insert into ${sql(schema)}.migrations (version, name) values (${LATEST_VERSION + 1}, 'from the future')`;
    } finally {
      await sql.end();
    }
    await expect(storage.setup()).rejects.toBeInstanceOf(SchemaTooNewError);
  });

  it("leaves exactly one live job when the same key is enqueued concurrently", async () => {
    const { storage, cleanup } = await newPostgresStorage({ listen: false, max: 10 });
    cleanups.push(cleanup);
    const attempts = await Promise.allSettled(
      Array.from({ length: 20 }, () => storage.insertJobs({ jobs: [newJob({ idempotencyKey: "same" })], onDuplicate: "return-existing", now: new Date() })),
    );
    const ids = attempts.map((a) => (a.status === "fulfilled" ? a.value.jobs[0]?.job.id : `rejected: ${String(a.reason)}`));
    expect(new Set(ids).size).toBe(1);
    expect((await storage.countJobs()).byStatus.pending).toBe(1);
    const rejects = await Promise.allSettled(
      Array.from({ length: 10 }, () => storage.insertJobs({ jobs: [newJob({ idempotencyKey: "other" })], onDuplicate: "reject", now: new Date() })),
    );
    expect(rejects.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(rejects.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(Array(9).fill("DUPLICATE_JOB"));
  });

  it("never hands the same job to two claimers", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const total = 200;
    await storage.insertJobs({ jobs: Array.from({ length: total }, () => newJob()), onDuplicate: "reject", now: new Date() });
    const claimers = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const s = new PostgresStorage({ connectionString: databaseUrl, schema, max: 2, listen: false });
        cleanups.push(() => s.close());
        return s;
      }),
    );
    const seen: string[] = [];
    await Promise.all(
      claimers.map(async (s, i) => {
        for (;;) {
          const { claimed } = await claimAny(s, 7, `w${i}`);
          if (claimed.length === 0) return;
          seen.push(...claimed.map((c) => c.job.id));
        }
      }),
    );
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
  });

  it("never leaves a dependent blocked when its dependency completes during the insert", async () => {
    const { storage, cleanup } = await newPostgresStorage({ listen: false, max: 10 });
    cleanups.push(cleanup);
    for (let round = 0; round < 20; round++) {
      const parent = newJob();
      await storage.insertJobs({ jobs: [parent], onDuplicate: "reject", now: new Date() });
      const { claimed } = await claimAny(storage, 1);
      const lease = claimed[0]!.lease;
      const child = newJob({ dependsOn: [parent.id], type: "child" });
      await Promise.all([
        storage.insertJobs({ jobs: [child], onDuplicate: "reject", now: new Date() }),
        storage.settle([{ lease, outcome: { type: "completed", result: null } }], new Date()),
      ]);
      expect((await storage.getJob(child.id))?.status).toBe("pending");
    }
  });
});
