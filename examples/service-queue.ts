/**
 * The queue behind the example HTTP services: two handlers, MemoryStorage by default, PostgreSQL
 * when DATABASE_URL is set, and a bearer-token check when API_TOKEN is set.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { defineReportHandler } from "./report-handler.js";
import { Queue, type Storage } from "jobgraph";

async function openStorage(): Promise<{ storage: Storage | undefined; label: string }> {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === "") return { storage: undefined, label: "MemoryStorage" };
  const { PostgresStorage } = await import("jobgraph/postgres");
  return { storage: new PostgresStorage({ connectionString: url, schema: "jobgraph_example" }), label: `PostgreSQL at ${new URL(url).host}` };
}

/** A started queue with the example handlers, and where it stores its jobs. */
export async function createServiceQueue(): Promise<{ queue: Queue; label: string }> {
  const { storage, label } = await openStorage();
  const queue = new Queue({ ...(storage === undefined ? {} : { storage }), capacity: { cpu: 2 }, concurrency: 4, pollIntervalMs: 200 });
  queue.defineHandler("email.send", {
    payload: z.object({ to: z.string().min(3), subject: z.string().max(200) }).strict(),
    retry: { maxAttempts: 3 },
    run: async ({ to, subject }, ctx) => {
      await sleep(1_000, undefined, { signal: ctx.signal });
      ctx.log("info", "sent", { to, subject });
      return { messageId: `m-${ctx.job.id.slice(0, 8)}` };
    },
  });
  defineReportHandler(queue);
  await queue.start();
  return { queue, label };
}

/** With API_TOKEN set, every route and the socket need `Authorization: Bearer <API_TOKEN>`; without it, all is open (development only). */
export function authorizeFromEnv(request: { headers: Record<string, string | string[] | undefined> }): boolean | { status: 401 } {
  const token = process.env.API_TOKEN;
  if (token === undefined || token === "") return true;
  const header = request.headers.authorization;
  if (header === undefined) return { status: 401 };
  return header === `Bearer ${token}`;
}

/** Job types the example services accept over HTTP. */
export const ALLOWED_TYPES = ["email.send", "report.build"] as const;
