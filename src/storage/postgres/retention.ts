import type { DeleteFinishedRequest } from "../storage.js";
import * as q from "./sql/retention.js";
import type { StoreContext } from "./store-context.js";

/** `PostgresStorage.deleteFinishedJobs`: deletes finished jobs past their status's cutoff; answers how many. */
export async function deleteFinishedJobs(store: StoreContext, request: DeleteFinishedRequest): Promise<number> {
  const limit = Math.max(0, Math.floor(request.limit));
  if (limit === 0) return 0;
  const retention = {
    completedBefore: request.completedBefore ?? null,
    failedBefore: request.failedBefore ?? null,
    cancelledBefore: request.cancelledBefore ?? null,
    limit,
  };
  // Lock, then judge again: see sql/retention.ts for the dependent this second look catches.
  return store.guard(
    (sql) =>
      store.transaction(sql, async (tx) => {
        const locked = await q.lockExpiredJobs(tx, store.schema, retention);
        if (locked.length === 0) return 0;
        return (await q.deleteUnkept(tx, store.schema, locked.map((row) => row.id))).count;
      }),
    "delete finished jobs",
  );
}
