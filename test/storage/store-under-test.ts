import { expect } from "vitest";
import type { ClaimRequest, ClaimResult, ClaimedJob, InsertRequest, InsertResult, Lease, Outcome, SettleResult, Storage } from "../../src/storage/storage.js";
import type { Json, JobId, JobRecord, JobStatus, NewJob } from "../../src/types.js";
import { attemptError, claimRequest } from "./builders.js";

type Settled = Extract<SettleResult, { type: "settled" }>;

/** The store a contract test runs against, with the shortcuts the tests share. Replaced before each test. */
export class StoreUnderTest {
  private current: Storage | undefined;

  get storage(): Storage {
    if (this.current === undefined) throw new Error("no store: the contract's beforeEach has not run");
    return this.current;
  }

  set storage(storage: Storage) {
    this.current = storage;
  }

  /** Inserts jobs in one batch that must succeed; returns the stored records in input order. */
  async insert(...jobs: NewJob[]): Promise<JobRecord[]> {
    const result = await this.insertBatch(jobs);
    return result.jobs.map(({ job }) => job);
  }

  async insertBatch(jobs: readonly NewJob[], onDuplicate: InsertRequest["onDuplicate"] = "reject"): Promise<InsertResult> {
    return this.storage.insertJobs({ jobs, onDuplicate, now: new Date() });
  }

  async claim(types: readonly string[], overrides: Partial<ClaimRequest> = {}): Promise<ClaimResult> {
    return this.storage.claimJobs(claimRequest(types, overrides));
  }

  /** Claims the one runnable job of `type`; fails the test if there is not exactly one. */
  async claimOne(type: string, overrides: Partial<ClaimRequest> = {}): Promise<ClaimedJob> {
    const { claimed } = await this.claim([type], overrides);
    expect(claimed).toHaveLength(1);
    return claimed[0] as ClaimedJob;
  }

  async settle(lease: Lease, outcome: Outcome): Promise<SettleResult> {
    const [result] = await this.storage.settle([{ lease, outcome }], new Date());
    if (result === undefined) throw new Error("settle returned no result");
    return result;
  }

  /** Settles an outcome that must be accepted. */
  async settled(lease: Lease, outcome: Outcome): Promise<Settled> {
    const result = await this.settle(lease, outcome);
    if (result.type !== "settled") throw new Error(`lease on ${lease.jobId} was lost`);
    return result;
  }

  async complete(lease: Lease, result: Json = null): Promise<Settled> {
    return this.settled(lease, { type: "completed", result });
  }

  async fail(lease: Lease): Promise<Settled> {
    return this.settled(lease, { type: "failed", error: attemptError() });
  }

  /** Claims the job of `type` and completes it. */
  async run(type: string, result: Json = null): Promise<Settled> {
    const { lease } = await this.claimOne(type);
    return this.complete(lease, result);
  }

  /** The stored job, which must exist. */
  async job(id: JobId): Promise<JobRecord> {
    const job = await this.storage.getJob(id);
    if (job === undefined) throw new Error(`job ${id} not found`);
    return job;
  }

  async status(id: JobId): Promise<JobStatus> {
    return (await this.job(id)).status;
  }

  async totalJobs(): Promise<number> {
    const { byStatus } = await this.storage.countJobs();
    return Object.values(byStatus).reduce((sum, n) => sum + n, 0);
  }
}
