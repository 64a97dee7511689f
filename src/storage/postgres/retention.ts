import type { DeleteFinishedRequest } from "../storage.js";
import * as q from "./sql/retention.js";
import type { StoreContext } from "./store-context.js";
import { retryTransient } from "./transient.js";

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
  const result = await store.guard((sql) => retryTransient(() => q.deleteFinishedJobs(sql, store.schema, retention)), "delete finished jobs");
  return result.count;
}
