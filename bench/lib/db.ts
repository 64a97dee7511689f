import pg from "pg";

/** The server every system runs against: DATABASE_URL, else the local test database. */
export const BASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** The same server, another database. */
export function urlFor(database: string): string {
  const url = new URL(BASE_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates `database` (through the base database) unless it exists. */
export async function ensureDatabase(database: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`bad database name ${database}`);
  const client = new pg.Client({ connectionString: BASE_URL });
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (rowCount === 0) await client.query(`create database ${database}`);
  } finally {
    await client.end();
  }
}

/** One short-lived connection for setup, reset and counting. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function serverInfo(): Promise<{ version: string; settings: Record<string, string> }> {
  return withClient(BASE_URL, async (client) => {
    const version = (await client.query("show server_version")).rows[0].server_version as string;
    const settings: Record<string, string> = {};
    for (const name of ["synchronous_commit", "shared_buffers", "max_connections", "fsync", "autovacuum"]) {
      settings[name] = (await client.query(`show ${name}`)).rows[0][name] as string;
    }
    return { version, settings };
  });
}
