import { leaseStillRunning, type Db, type JsonDoc } from "./fragments.js";

// The heartbeat's statement.

/** A lease as the statements read it. */
export interface LeaseRow {
  readonly id: string;
  readonly token: string;
}

/** Extends the leases still held; a lease missing from the result is lost. */
export const extendLeases = (sql: Db, schema: string, leases: readonly LeaseRow[], leaseMs: number) =>
  sql<{ id: string; token: string; cancel_requested: boolean }[]>`
  update ${sql(schema)}.jobs j set lease_expires_at = now() + make_interval(secs => ${leaseMs}::float8 / 1000)
  from jsonb_to_recordset(${sql.json(leases as unknown as JsonDoc)}) as l(id uuid, token uuid)
  where j.id = l.id and j.lease_token = l.token and ${leaseStillRunning(sql)}
  returning j.id::text as id, j.lease_token::text as token, j.cancel_requested`;
