import { Queue } from "../../../src/queue.js";
import type { QueueOptions } from "../../../src/options.js";
import { PostgresStorage, type PostgresStorageOptions } from "../../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, dropSchema, freshSchemaName } from "../../support/postgres.js";

/**
 * Queues on PostgresStorage with the real clock, all on one fresh schema, each with a store of its
 * own (as separate processes would have). `cleanup` shuts every queue down and drops the schema.
 */
export class PostgresQueues {
  readonly schema = freshSchemaName();
  readonly sql = adminSql();
  private readonly queues: Queue[] = [];

  /** A queue (not started); its store is migrated by the first `start` or `migrate`. */
  queue(options: Omit<QueueOptions, "storage"> = {}, storage: Omit<PostgresStorageOptions, "schema" | "connectionString"> = {}): Queue {
    const queue = new Queue({
      storage: new PostgresStorage({ connectionString: databaseUrl, schema: this.schema, max: 4, ...storage }),
      capacity: { cpu: 4 },
      pollIntervalMs: 250,
      shutdownGraceMs: 2_000,
      // Tests that provoke errors assert on them through events; a test of the logger passes its own.
      logger: false,
      ...options,
    });
    this.queues.push(queue);
    return queue;
  }

  /** A started worker queue. */
  async worker(options: Omit<QueueOptions, "storage"> = {}): Promise<Queue> {
    const queue = this.queue(options);
    await queue.start();
    return queue;
  }

  /** A producer: migrated, never started, no handlers. */
  async producer(): Promise<Queue> {
    const queue = this.queue();
    await queue.migrate();
    return queue;
  }

  async cleanup(): Promise<void> {
    for (const queue of this.queues.splice(0)) {
      await queue.shutdown().catch(() => undefined);
      await queue.storage.close(); // a store passed in stays open after shutdown: ours to close
    }
    await this.sql.end({ timeout: 5 });
    await dropSchema(this.schema);
  }
}
