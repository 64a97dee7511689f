// Schema variants for measuring what parts of jobgraph's schema cost: applied to a freshly migrated
// schema, named in SCHEMA_VARIANT (comma-separated): nofk (no foreign key from job_logs to jobs),
// noidx (no listing indexes on jobs: the partial ones for failed, cancelled and blocked jobs of migration 4),
// noseqidx (no index on seq, which pages listings), partialseq (the seq index replaced by partial ones for
// pending and completed jobs: with the partial indexes of the other statuses, what listings would need),
// nofinishedidx (no retention index on finished jobs), nologidx (no job_logs index), fillfactorNN (the jobs
// table filled to NN% by inserts, e.g. fillfactor85).
import { withClient } from "./db.ts";

export async function applySchemaVariants(url: string, schema: string, variants = (process.env.SCHEMA_VARIANT ?? "").split(",").filter((v) => v !== "")): Promise<void> {
  await withClient(url, async (c) => {
    for (const variant of variants) {
      if (variant === "nofk") {
        const { rows } = await c.query("select conname from pg_constraint where conrelid = $1::regclass and contype = 'f'", [`${schema}.job_logs`]);
        for (const row of rows) await c.query(`alter table ${schema}.job_logs drop constraint ${row.conname}`);
      } else if (variant === "noidx") {
        for (const index of ["jobs_failed_idx", "jobs_cancelled_idx", "jobs_blocked_idx"]) await c.query(`drop index if exists ${schema}.${index}`);
      } else if (variant === "nologidx") {
        await c.query(`drop index ${schema}.job_logs_job_idx`);
      } else if (variant === "noseqidx") {
        await c.query(`drop index ${schema}.jobs_seq_idx`);
      } else if (variant === "partialseq") {
        await c.query(`drop index ${schema}.jobs_seq_idx`);
        await c.query(`create index jobs_pending_seq_idx on ${schema}.jobs (seq) where status = 'pending'`);
        await c.query(`create index jobs_completed_seq_idx on ${schema}.jobs (seq) where status = 'completed'`);
      } else if (variant === "nofinishedidx") {
        await c.query(`drop index ${schema}.jobs_finished_idx`);
      } else if (/^fillfactor[1-9][0-9]$/.test(variant)) {
        await c.query(`alter table ${schema}.jobs set (fillfactor = ${variant.slice("fillfactor".length)})`);
      } else {
        throw new Error(`unknown schema variant ${variant} (nofk, noidx, noseqidx, partialseq, nofinishedidx, nologidx, fillfactorNN)`);
      }
    }
  });
}
