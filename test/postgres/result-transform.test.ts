import postgres from "postgres";
import postgres3 from "postgres3";
import { afterEach, expect, it } from "vitest";
import { ValidationError } from "../../src/errors.js";
import { Queue } from "../../src/queue.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, describePostgres, newPostgresStorage } from "../support/postgres.js";

// jobgraph reads its own rows by column name and its JSON as stored. An application pool that
// transforms results (postgres.camel is what postgres.js documents) is refused with a typed error,
// before anything is written, rather than failing inside with a TypeError or an untyped race error.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function queueOnOwnPool() {
  const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
  const queue = new Queue({ storage, logger: false });
  cleanups.push(cleanup, () => queue.shutdown());
  return { queue, schema };
}

async function countJobs(schema: string): Promise<number> {
  const sql = adminSql();
  try {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.jobs`;
    return row?.n ?? -1;
  } finally {
    await sql.end();
  }
}

const transforms = [
  ["postgres.js 4, postgres.camel", () => postgres(databaseUrl, { max: 2, transform: postgres.camel, onnotice: () => undefined })],
  ["postgres.js 4, postgres.pascal", () => postgres(databaseUrl, { max: 2, transform: postgres.pascal, onnotice: () => undefined })],
  ["postgres.js 4, a value transform of one's own", () => postgres(databaseUrl, { max: 2, transform: { value: (v: unknown) => (typeof v === "string" ? v.toUpperCase() : v) }, onnotice: () => undefined })],
  ["postgres.js 3.4, postgres.camel", () => postgres3(databaseUrl, { max: 2, transform: postgres3.camel, onnotice: () => undefined }) as unknown as postgres.Sql],
] as const;

describePostgres("an application pool that transforms results", () => {
  for (const [name, open] of transforms) {
    it(`refuses its tx with a ValidationError, writes nothing, and leaves the application's transaction usable (${name})`, async () => {
      const { queue, schema } = await queueOnOwnPool();
      const app = open();
      cleanups.push(() => app.end({ timeout: 5 }));
      const outcome = await app.begin(async (tx) => {
        const error = await queue.enqueue("t", { user_id: 1 }, { tx, idempotencyKey: "k" }).then(() => undefined, (e: unknown) => e);
        const [after] = await tx`select 41 + 1 as answer`;
        return { error, after };
      });
      expect(outcome.error).toBeInstanceOf(ValidationError);
      expect(outcome.error).toMatchObject({ code: "VALIDATION", message: expect.stringContaining("transforms results") });
      expect(Object.values(outcome.after as object)).toEqual([42]);
      expect(await countJobs(schema)).toBe(0);
    });

    it(`refuses it as sql at construction (${name})`, async () => {
      const app = open();
      cleanups.push(() => app.end({ timeout: 5 }));
      expect(() => new PostgresStorage({ sql: app, schema: "unused_schema" })).toThrow(ValidationError);
    });
  }

  it("still takes the tx of a pool that transforms only what it sends, or only undefined", async () => {
    const { queue } = await queueOnOwnPool();
    const app = postgres(databaseUrl, { max: 2, transform: { undefined: null, column: { to: postgres.fromCamel } }, onnotice: () => undefined });
    cleanups.push(() => app.end({ timeout: 5 }));
    const job = await app.begin((tx) => queue.enqueue("t", { user_id: 1 }, { tx, maxAttempts: 3 }));
    expect(await queue.getJob(job.id)).toEqual(job);
    expect(job.payload).toEqual({ user_id: 1 });
    expect(new PostgresStorage({ sql: app, schema: "unused_schema" })).toBeInstanceOf(PostgresStorage);
  });

  it("asks a transaction once, however many enqueues it makes, and asks each new transaction", async () => {
    const { queue } = await queueOnOwnPool();
    const sent: string[] = [];
    const app = postgres(databaseUrl, { max: 2, onnotice: () => undefined, debug: (_connection, query) => sent.push(query) });
    cleanups.push(() => app.end({ timeout: 5 }));
    const probes = () => sent.filter((query) => query.includes("jobgraph_probe")).length;
    const jobs = await app.begin(async (tx) => [
      await queue.enqueue("t", { n: 1 }, { tx }),
      await queue.enqueue("t", { n: 2 }, { tx }),
      ...(await queue.enqueueMany([{ key: "a", type: "t" }, { key: "b", type: "t", dependsOn: ["a"] }], { tx })),
    ]);
    expect(probes()).toBe(1);
    for (const job of jobs) expect((await queue.getJob(job.id))?.status).toBe(job.status);
    await app.begin((tx) => queue.enqueue("t", { n: 3 }, { tx }));
    expect(probes()).toBe(2);
  });
});
