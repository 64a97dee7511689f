import type postgres from "postgres";
import type { PostgresStorage } from "../../../src/storage/postgres/index.js";
import type { NewJob } from "../../../src/types.js";
import { deferred } from "../../queue/support.js";
import { eventually } from "../../support/postgres.js";

/** An open transaction of the test's own: its backend's pid, and how to end it. */
export interface HeldTransaction {
  readonly pid: number;
  commit(): Promise<void>;
}

/** Runs `work` in a transaction on `admin` and keeps it open (with its locks) until `commit`. */
export async function heldTransaction(admin: postgres.Sql, work: (tx: postgres.TransactionSql) => Promise<unknown>): Promise<HeldTransaction> {
  const release = deferred();
  const started = deferred<number>();
  const done = admin.begin(async (tx) => {
    const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
    await work(tx);
    started.resolve(row!.pid);
    await release.promise;
  });
  done.catch((error: unknown) => started.reject(error));
  const pid = await started.promise;
  return {
    pid,
    commit: async () => {
      release.resolve();
      await done;
    },
  };
}

/** An application's transaction that inserted `jobs` (holding their dependencies FOR SHARE), open until `commit`. */
export function heldInsert(admin: postgres.Sql, storage: PostgresStorage, jobs: NewJob[]): Promise<HeldTransaction> {
  return heldTransaction(admin, (tx) => storage.insertJobs({ jobs, onDuplicate: "reject", now: new Date(), tx }));
}

/** Waits until some backend waits for a lock one of `pids` holds. */
export async function blockedBy(admin: postgres.Sql, pids: readonly number[]): Promise<void> {
  await eventually(async () => {
    const [row] = await admin<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity a where a.pid <> pg_backend_pid() and pg_blocking_pids(a.pid) && ${pids as number[]}::int[]`;
    return (row?.n ?? 0) > 0 ? true : undefined;
  }, `a write waiting on ${pids.join(", ")}`);
}
