/**
 * The example services' handlers as a module for `jobgraph worker` (docker-compose.yml's workers):
 * the default export gets the queue and defines the handlers; the command line does the rest
 * (connection, migration, concurrency, a graceful stop on SIGTERM or SIGINT).
 *
 *   npm run build
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test JOBGRAPH_SCHEMA=jobgraph_example \
 *     node --import tsx dist/cli.js worker --handlers examples/worker-handlers.ts --concurrency 8
 *
 * (`--import tsx` because this module is TypeScript; a JavaScript module needs only `npx jobgraph worker`.)
 */
import { setTimeout as sleep } from "node:timers/promises";
import postgres from "postgres";
import { z } from "zod";
import { defineReportHandler } from "./report-handler.js";
import type { Queue } from "jobgraph";
import { attemptSql } from "jobgraph/postgres";

export default async function defineHandlers(queue: Queue): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (url !== undefined && url !== "") {
    // The table the email handler writes its receipts to, in the job's own transaction.
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    await sql`create table if not exists public.example_receipts (job_id uuid primary key, recipient text not null, sent_at timestamptz not null default now())`;
    await sql.end({ timeout: 5 });
  }

  queue.defineHandler("email.send", {
    payload: z.object({ to: z.string().min(3), subject: z.string().max(200) }).strict(),
    retry: { maxAttempts: 3 },
    run: async ({ to }, ctx) => {
      await sleep(1_000, undefined, { signal: ctx.signal });
      // Recorded in the transaction that completes the job: a job that runs twice (a lost lease) records once.
      await attemptSql(ctx)`insert into public.example_receipts (job_id, recipient) values (${ctx.job.id}, ${to})`;
      return { messageId: `m-${ctx.job.id.slice(0, 8)}` };
    },
  });

  defineReportHandler(queue);
}
