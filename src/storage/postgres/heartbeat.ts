import type { HeartbeatResult, Lease } from "../storage.js";
import { isUuid } from "./is-uuid.js";
import { extendLeases } from "./sql/leases.js";
import type { StoreContext } from "./store-context.js";
import { retryTransient } from "./transient.js";

/** `PostgresStorage.heartbeat`: extends the leases still held, and says of each whether it is held and whether its job is to stop. */
export async function heartbeat(store: StoreContext, leases: readonly Lease[], leaseMs: number): Promise<readonly HeartbeatResult[]> {
  if (leases.length === 0) return [];
  const wellFormed = leases.filter((lease) => isUuid(lease.jobId) && isUuid(lease.token));
  const rows = await store.guard(
    (sql) => retryTransient(() => extendLeases(sql, store.schema, wellFormed.map((lease) => ({ id: lease.jobId, token: lease.token })), leaseMs)),
    "heartbeat",
  );
  const held = new Map(rows.map((row) => [`${row.id}/${row.token}`, row.cancel_requested]));
  return leases.map(({ jobId, token }): HeartbeatResult => {
    const cancelRequested = held.get(`${jobId.toLowerCase()}/${token.toLowerCase()}`);
    return { jobId, state: cancelRequested === undefined ? "lost" : cancelRequested ? "cancel-requested" : "alive" };
  });
}
