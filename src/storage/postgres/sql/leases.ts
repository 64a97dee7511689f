import { leaseStillRunning, type Db, type JsonDoc } from "./fragments.js";

// The heartbeat's statement.

/** A lease as the statements read it. */
export interface LeaseRow {
  readonly id: string;
  readonly token: string;
}

/**
 * Extends the leases still held; a lease missing from the result is lost. The rows are locked in id
 * order, skipping any another transaction holds (the settle of that very job, an attempt's own
 * transaction, an insert adding an edge to it): a heartbeat neither waits for a settle nor joins a
 * deadlock with one, and one slow commit does not hold back every other lease of the batch. A lease
 * whose row was skipped is reported as held, as the statement's snapshot shows it, and extended at
 * a later beat; one whose row was locked but no longer holds the token (changed since the snapshot)
 * is lost. A skipped lease is reported held even once it has expired: the holder may be the
 * attempt's own `ctx.tx` (an insert naming the running job share-locks its row until that commits),
 * and then no rescue can take the row before the attempt's outcome does. If the holder is a rescue,
 * the next beat reports the lease lost.
 */
export const extendLeases = (sql: Db, schema: string, leases: readonly LeaseRow[], leaseMs: number) =>
  sql<{ id: string; token: string; cancel_requested: boolean }[]>`
  with l as materialized (select * from jsonb_to_recordset(${sql.json(leases as unknown as JsonDoc)}) as l(id uuid, token uuid)),
  held as materialized (
    select j.id, j.lease_token, j.cancel_requested from ${sql(schema)}.jobs j join l on j.id = l.id
    where j.lease_token = l.token and ${leaseStillRunning(sql)}
  ),
  locked as materialized (
    select j.id from ${sql(schema)}.jobs j
    where j.id = any(array(select h.id from held h))
    order by j.id
    for no key update skip locked
  ),
  extended as (
    update ${sql(schema)}.jobs j set lease_expires_at = now() + make_interval(secs => ${leaseMs}::float8 / 1000)
    from locked k, l
    where j.id = k.id and l.id = j.id and j.lease_token = l.token and ${leaseStillRunning(sql)}
    returning j.id, j.cancel_requested
  )
  select h.id::text as id, h.lease_token::text as token, coalesce(e.cancel_requested, h.cancel_requested) as cancel_requested
  from held h left join extended e on e.id = h.id
  where e.id is not null or h.id not in (select k.id from locked k)`;
