import { afterEach, beforeEach, expect, it } from "vitest";
import { WaitTimeoutError } from "../../src/errors.js";
import { Queue } from "../../src/queue.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { databaseUrl, describePostgres, dropSchema, freshSchemaName } from "../support/postgres.js";
import { TcpProxy, targetOf } from "../support/tcp-proxy.js";

let proxy: TcpProxy;
let schema: string;
beforeEach(() => {
  proxy = new TcpProxy(targetOf(databaseUrl));
  schema = freshSchemaName();
});
afterEach(async () => {
  await proxy.close();
  await dropSchema(schema);
});

describePostgres("waitFor when PostgreSQL stops answering", () => {
  it("rejects with WAIT_TIMEOUT at timeoutMs while its reads hang on a half-open connection", async () => {
    const url = await proxy.start(databaseUrl);
    // One connection and no LISTEN: every read of this queue goes over the socket the proxy silences.
    const queue = new Queue({ storage: new PostgresStorage({ connectionString: url, schema, max: 1, listen: false }), pollIntervalMs: 200, logger: false });
    try {
      await queue.migrate();
      const job = await queue.enqueue("nobody.handles", {});
      expect(proxy.blackhole()).toBe(1);
      const error = await queue.waitFor(job.id, { timeoutMs: 2_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WaitTimeoutError);
      expect(error).toMatchObject({ code: "WAIT_TIMEOUT", jobId: job.id });
    } finally {
      // The silenced socket would hold the store's close: cut it first.
      await proxy.close();
      await queue.shutdown();
    }
  }, 15_000);
});
