import postgres from "postgres";
import postgres3 from "postgres3";
import { afterEach, expect, it } from "vitest";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, describePostgres, dropSchema, eventually, freshSchemaName } from "../support/postgres.js";
import { TcpProxy, targetOf } from "../support/tcp-proxy.js";
import { claimAny, newJob } from "./fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// An attempt's rollback cancels the handler's statements still running after a grace. The cancel
// request travels on a connection of its own: delivered late, it would cancel whatever the pool's
// connection runs by then, a statement of another transaction.
for (const [major, pool] of [
  ["3.4", (url: string) => postgres3(url, { max: 1, onnotice: () => undefined }) as unknown as postgres.Sql],
  ["4", (url: string) => postgres(url, { max: 1, onnotice: () => undefined })],
] as const) {
  describePostgres(`The rollback of ctx.tx on an application's postgres.js ${major} pool`, () => {
    it("sends ROLLBACK only once its cancel request was delivered: the pool's next statement is not cancelled", async () => {
      const proxy = new TcpProxy(targetOf(databaseUrl));
      const url = await proxy.start(databaseUrl);
      cleanups.push(() => proxy.close());
      proxy.delayCancelRequests(1_500);
      const app = pool(url);
      cleanups.push(() => app.end({ timeout: 5 }));
      const schema = freshSchemaName();
      const storage = new PostgresStorage({ sql: app, schema, listen: false });
      cleanups.push(async () => {
        await storage.close();
        await dropSchema(schema);
      });
      await storage.setup();
      await storage.insertJobs({ jobs: [newJob()], onDuplicate: "reject", now: new Date() });
      const { claimed } = await claimAny(storage);
      const attempt = storage.openAttemptTransaction(claimed[0]!.lease);
      const marker = `cancel-probe-${schema}`;
      const statement = attempt.handle.unsafe(`select pg_sleep(0.5) /* ${marker} */`).then(
        () => "done",
        (error: { code?: string }) => error.code,
      );
      const admin = adminSql();
      cleanups.push(() => admin.end({ timeout: 5 }));
      await eventually(async () => {
        const rows = await admin`select 1 from pg_stat_activity where state = 'active' and query = ${`select pg_sleep(0.5) /* ${marker} */`}`;
        return rows.length > 0 ? true : undefined;
      }, "the handler's statement to run");
      // The attempt stopped (a timeout, say): the statement runs on past the grace and is cancelled,
      // but the cancel request is still on its way when the statement ends by itself.
      await attempt.rollback();
      expect(proxy.cancelRequests).toBe(1);
      expect(await statement).toBe("done");
      // The pool's one connection runs an unrelated statement next: the late cancel must not reach it.
      expect(await app`select pg_sleep(1.6) as slept`.then(() => "done", (error: { code?: string }) => error.code)).toBe("done");
    });
  });
}
