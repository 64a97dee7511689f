import { z } from "zod";
import { DuplicateJobError, InvalidStateError, JobNotFoundError } from "./errors.js";
import { oneOrMany, storableDate, typeFilterSchema } from "./options.js";
import type { Storage } from "./storage/storage.js";
import type { JobId } from "./types.js";

/** Most jobs one `retryMany` call retries, and how many when `limit` is not given. */
export const MAX_RETRY_MANY = 10_000;
export const DEFAULT_RETRY_MANY = 1_000;
/** Candidates read per page; each retry is its own short transaction, so no lock outlives one job. */
const REDRIVE_PAGE = 100;

/** The filter of `retryMany`. */
export const retryManySchema = z
  .object({
    status: oneOrMany(z.enum(["failed", "cancelled"]), 2)
      .refine((list) => list.length > 0, "name at least one status")
      .default(["failed"]),
    type: typeFilterSchema.optional(),
    finishedAfter: storableDate.optional(),
    finishedBefore: storableDate.optional(),
    limit: z.number().int().min(1).max(MAX_RETRY_MANY).default(DEFAULT_RETRY_MANY),
  })
  .strict()
  .refine((f) => f.finishedAfter === undefined || f.finishedBefore === undefined || f.finishedAfter <= f.finishedBefore, {
    message: "finishedAfter must not be later than finishedBefore",
    path: ["finishedAfter"],
  });
export type RetryManyFilter = z.input<typeof retryManySchema>;
type ParsedFilter = z.output<typeof retryManySchema>;

/**
 * Why a matched job may not be retried when its turn comes: it changed since it was read (retried,
 * revived with a dependency retried just before it, or deleted by retention), a dependency of it is
 * still failed or cancelled, or a live job now holds its idempotency key. Such a job is skipped.
 */
function isSkippable(error: unknown): boolean {
  return error instanceof InvalidStateError || error instanceof DuplicateJobError || error instanceof JobNotFoundError;
}

/**
 * Retries the jobs matching `filter`, oldest first (so a dependency is retried before its
 * dependents, which then come back with it), each with `retryJob` under the rules of `retry`, until
 * `limit` were retried or none match; answers how many were retried. A job that cannot be retried
 * is skipped, not an error. A store failure ends the redrive; the jobs retried before it stay retried.
 */
export async function redrive(storage: Storage, filter: ParsedFilter, now: () => Date): Promise<number> {
  let retried = 0;
  let cursor: string | undefined;
  do {
    const page = await storage.listFinishedJobIds({
      status: filter.status,
      limit: REDRIVE_PAGE,
      ...(filter.type === undefined ? {} : { type: filter.type }),
      ...(filter.finishedAfter === undefined ? {} : { finishedAfter: filter.finishedAfter }),
      ...(filter.finishedBefore === undefined ? {} : { finishedBefore: filter.finishedBefore }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const id of page.ids) {
      if (retried >= filter.limit) return retried;
      if (await retryOne(storage, id, now())) retried++;
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined && retried < filter.limit);
  return retried;
}

async function retryOne(storage: Storage, id: JobId, now: Date): Promise<boolean> {
  try {
    await storage.retryJob(id, now);
    return true;
  } catch (error) {
    if (isSkippable(error)) return false;
    throw error;
  }
}
