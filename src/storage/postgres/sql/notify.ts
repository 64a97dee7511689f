import type { Db, JsonDoc } from "./fragments.js";

// Notifications of status changes: sent by the statements that make them, heard by the change feed.

/**
 * Where a write's notifications go: the schema's `channel`, each payload led by `sender`. A store
 * tags each write of its own (`<store>.<write>|`): its listener then delivers the changes it kept
 * for that write, at the notification's place among the others, without parsing them back. A
 * write whose commit it does not see (in an application's transaction) goes untagged (`sender`
 * ""), to be heard back like any other.
 */
export interface Notice {
  readonly channel: string;
  readonly sender: string;
}

/** A type name whose JSON text is longer than this travels as "" (the id is what matters). */
const MAX_TYPE_BYTES = 900;
/** Tuples per notification are cut at this running size, so a payload stays below PostgreSQL's 8000 bytes. */
const CHUNK_BYTES = 6500;

/**
 * CTEs over a CTE `changed(ord, id, type, status, attempt)` of one statement's status changes
 * (`id` as text): `notified` sends them, in `ord` order, as few notifications as fit (JSON arrays
 * of `[id, type, status, attempt]`, led by `notice.sender`), which go out only if the statement's
 * transaction commits.
 * `notified` must be read by the statement to run. Each tuple is written by concatenation: an id
 * (a uuid's text), a status and an attempt count need no escaping, and only the type goes through
 * `to_json`; `json_build_array` cost about twice as much per tuple. A tuple is at most ~1,000 bytes,
 * so a chunk cut at a running size of 6,500 stays below the limit.
 */
export const notifiedChanges = (sql: Db, notice: Notice) => sql`
  tuples as (
    select x.ord, '["' || x.id || '",' || case when octet_length(n.type) > ${MAX_TYPE_BYTES} then '""' else n.type end
      || ',"' || x.status || '",' || x.attempt || ']' as t
    from changed x cross join lateral (select to_json(x.type::text)::text as type) n
  ),
  chunks as (
    select t.ord, t.t, (sum(octet_length(t.t) + 1) over (order by t.ord rows between unbounded preceding and current row)) / ${CHUNK_BYTES} as chunk
    from tuples t
  ),
  notified as (
    select count(pg_notify(${notice.channel}, ${notice.sender}::text || p.payload)) as n
    from (select '[' || string_agg(c.t, ',' order by c.ord) || ']' as payload from chunks c group by c.chunk) p
  )`;

/** Starts listening on the change channel (on the feed's own connection). */
export const listen = (sql: Db, channel: string) => sql`listen ${sql(channel)}`;

/** Whether this session still listens on `channel`: the listen connection's health check. */
export const listeningOn = (sql: Db, channel: string) => sql<{ listening: boolean }[]>`
  select ${channel}::text = any(array(select pg_listening_channels())) as listening`;

/** Sends notifications (inside the transaction that made the changes: they go out if it commits). */
export const notifyChanges = (sql: Db, notice: Notice, notifications: readonly string[]) => sql`
  select pg_notify(${notice.channel}, ${notice.sender}::text || n) from jsonb_array_elements_text(${sql.json(notifications as JsonDoc)}) as n`;
