import type { JobId, JobRecord, JobStatus, Queue } from "jobgraph";

/** `queue.getJobGraph(id)` (DESIGN.md section 2). */
export interface JobGraph {
  readonly jobs: readonly JobRecord[];
  readonly edges: readonly (readonly [JobId, JobId])[];
  readonly truncated: boolean;
}

/** `queue.retryMany(filter)` and `queue.getJobGraph(id)`. */
interface RedriveApi {
  retryMany(filter: { status?: JobStatus[]; type?: string[]; finishedAfter?: Date; finishedBefore?: Date; limit?: number }): Promise<number>;
  getJobGraph(id: JobId): Promise<JobGraph>;
}

/** The queue's redrive and graph methods (their own branch; typed here until it lands). */
export const redriveApi = (queue: Queue) => queue as unknown as RedriveApi;

