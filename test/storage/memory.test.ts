import { describe, expect, it } from "vitest";
import { QueueClosedError } from "../../src/errors.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { JobChange } from "../../src/types.js";
import { claimRequest, newJob } from "./builders.js";
import { describeStorageContract } from "./contract.js";

describeStorageContract("memory", async () => ({ storage: new MemoryStorage(), cleanup: async () => {} }));

describe("MemoryStorage", () => {
  const insert = (storage: MemoryStorage, ...jobs: ReturnType<typeof newJob>[]) =>
    storage.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });

  it("hands out copies: changing a returned record changes nothing stored", async () => {
    const storage = new MemoryStorage();
    const { jobs } = await insert(storage, newJob({ payload: { list: [1] } }));
    const record = jobs[0]!.job;
    (record.payload as { list: number[] }).list.push(2);
    (record.dependsOn as string[]).push("x");
    record.runAt.setTime(0);
    const stored = await storage.getJob(record.id);
    expect(stored?.payload).toEqual({ list: [1] });
    expect(stored?.dependsOn).toEqual([]);
    expect(stored?.runAt.getTime()).not.toBe(0);
  });

  it("keeps a copy of what it is given", async () => {
    const storage = new MemoryStorage();
    const payload = { list: [1] };
    const job = newJob({ payload });
    await insert(storage, job);
    payload.list.push(2);
    expect((await storage.getJob(job.id))?.payload).toEqual({ list: [1] });
  });

  it("refuses values PostgreSQL could not store, and then changes nothing", async () => {
    const storage = new MemoryStorage();
    await expect(insert(storage, newJob(), newJob({ payload: { n: 1n } as never }))).rejects.toThrow();
    expect((await storage.listJobs({ limit: 10 })).jobs).toEqual([]);
  });

  it("judges time only by the now it is given", async () => {
    const storage = new MemoryStorage();
    const runAt = new Date(Date.UTC(2030, 0, 1));
    await insert(storage, newJob({ runAt }));
    expect((await storage.claimJobs(claimRequest(["test.job"], { now: new Date(runAt.getTime() - 1) }))).claimed).toEqual([]);
    const { claimed } = await storage.claimJobs(claimRequest(["test.job"], { now: runAt, leaseMs: 1_000 }));
    expect(claimed).toHaveLength(1);
    expect(await storage.findExpiredLeases(new Date(runAt.getTime() + 999), 10)).toEqual([]);
    expect(await storage.findExpiredLeases(new Date(runAt.getTime() + 1_000), 10)).toHaveLength(1);
  });

  it("delivers one batch per call, after the call, and survives a listener that throws", async () => {
    const storage = new MemoryStorage();
    const batches: (readonly JobChange[])[] = [];
    storage.subscribe({ onChange: () => { throw new Error("listener bug"); } });
    const unsubscribe = storage.subscribe({ onChange: (changes) => batches.push(changes) });
    const a = newJob();
    await insert(storage, a, newJob({ dependsOn: [a.id] }));
    await Promise.resolve();
    expect(batches.map((b) => b.map((c) => c.status))).toEqual([["pending", "blocked"]]);
    unsubscribe();
    await insert(storage, newJob());
    await Promise.resolve();
    expect(batches).toHaveLength(1);
  });

  it("refuses calls after close", async () => {
    const storage = new MemoryStorage();
    await storage.close();
    await expect(storage.getJob("x")).rejects.toBeInstanceOf(QueueClosedError);
    expect(() => storage.subscribe({ onChange: () => {} })).toThrow(QueueClosedError);
  });
});
