import type { Json, JobId, JobRecord, JobStatus, Queue } from "jobgraph";

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

/** One stored schedule as `listSchedules()` answers it (DESIGN.md section 11). */
export interface ScheduleInfo {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string | undefined;
  readonly type: string;
  readonly payload: Json;
  readonly options: Record<string, unknown>;
  readonly misfire: "run-once" | "skip";
  readonly nextRunAt: Date | undefined;
  readonly lastRunAt: Date | undefined;
}

/** `queue.schedule`, `unschedule` and `listSchedules`. */
interface ScheduleApi {
  schedule(name: string, schedule: { cron: string; timezone?: string; type: string; payload?: Json; options?: Record<string, unknown>; misfire?: "run-once" | "skip" }): Promise<ScheduleInfo>;
  unschedule(name: string): Promise<boolean>;
  listSchedules(): Promise<readonly ScheduleInfo[]>;
}

/** The queue's redrive and graph methods (their own branch; typed here until it lands). */
export const redriveApi = (queue: Queue) => queue as unknown as RedriveApi;

/** The queue's schedule methods (their own branch; typed here until it lands). */
export const scheduleApi = (queue: Queue) => queue as unknown as ScheduleApi;
