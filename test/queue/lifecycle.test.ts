import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { JobNotFoundError, UnknownJobTypeError, ValidationError } from "../../src/errors.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { JobStatus } from "../../src/types.js";
import { closeAll, deferred, newQueue, recordEvents, runUntil, untilStatus, wrapStorage } from "./support.js";

afterEach(closeAll);

describe("defineHandler", () => {
  it("returns a reference naming the type", () => {
    const { queue } = newQueue();
    const ref = queue.defineHandler("mail.send", { run: () => "sent" });
    expect(ref.type).toBe("mail.send");
  });

  it("rejects a second handler for the same type", () => {
    const { queue } = newQueue();
    queue.defineHandler("mail.send", { run: () => "sent" });
    expect(() => queue.defineHandler("mail.send", { run: () => "again" })).toThrow(ValidationError);
  });

  it.each<[string, string, unknown]>([
    ["no run function", "a", {}],
    ["run not a function", "a", { run: 42 }],
    ["unknown option", "a", { run: () => 1, retries: 3 }],
    ["bad priority", "a", { run: () => 1, priority: "urgent" }],
    ["negative timeout", "a", { run: () => 1, timeoutMs: -5 }],
    ["NaN maxAttempts", "a", { run: () => 1, retry: { maxAttempts: Number.NaN } }],
    ["payload that is not a Standard Schema", "a", { run: () => 1, payload: { parse: () => 1 } }],
    ["payload with a ~standard that cannot validate", "a", { run: () => 1, payload: { "~standard": { version: 1, vendor: "x" } } }],
    ["negative resources", "a", { run: () => 1, resources: { cpu: -1 } }],
    ["empty type", "", { run: () => 1 }],
    ["type with spaces", "send mail", { run: () => 1 }],
  ])("rejects %s", (_name, type, definition) => {
    const { queue } = newQueue();
    expect(() => queue.defineHandler(type, definition as never)).toThrow(ValidationError);
    // The bad definition left nothing registered: the type is still free.
    if (type !== "" && type !== "send mail") expect(() => queue.defineHandler(type, { run: () => 1 })).not.toThrow();
  });
});

describe("enqueue", () => {
  it("runs a job enqueued by reference and one enqueued by type name", async () => {
    const tq = newQueue();
    const seen: unknown[] = [];
    const ref = tq.queue.defineHandler("echo", { run: (payload) => { seen.push(payload); return { echoed: payload }; } });
    await tq.queue.start();
    const byRef = await tq.queue.enqueue(ref, { n: 1 });
    const byName = await tq.queue.enqueue("echo", { n: 2 });
    expect(byRef.type).toBe("echo");
    expect(byName.type).toBe("echo");
    const done = await untilStatus(tq, byName.id, "completed");
    expect(done.result).toEqual({ echoed: { n: 2 } });
    expect((await untilStatus(tq, byRef.id, "completed")).result).toEqual({ echoed: { n: 1 } });
    expect(seen).toEqual(expect.arrayContaining([{ n: 1 }, { n: 2 }]));
  });

  it("rejects a reference whose handler this queue does not have", async () => {
    const { queue } = newQueue();
    await expect(queue.enqueue({ type: "elsewhere" }, {})).rejects.toBeInstanceOf(UnknownJobTypeError);
  });

  it("validates the payload against the handler's schema at enqueue and stores nothing on failure", async () => {
    const { queue } = newQueue();
    const ref = queue.defineHandler("settle", { payload: z.object({ batchId: z.string() }), run: () => null });
    await expect(queue.enqueue(ref, { batchId: 7 } as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(queue.enqueue("settle", { wrong: true })).rejects.toMatchObject({ code: "VALIDATION" });
    expect((await queue.listJobs()).jobs).toHaveLength(0);
    expect((await queue.metrics()).jobs.byStatus.pending).toBe(0);
    await expect(queue.enqueue(ref, { batchId: "b-1" })).resolves.toMatchObject({ status: "pending" });
  });

  it("validates the payload again at run: a job enqueued without the schema fails without retries", async () => {
    // Producer without the handler: no validation at enqueue.
    const producer = newQueue();
    const bad = await producer.queue.enqueue("settle", { batchId: 7 });
    const good = await producer.queue.enqueue("settle", { batchId: "b-1" });
    const worker = newQueue({ storage: producer.storage, clock: producer.clock });
    let runs = 0;
    worker.queue.defineHandler("settle", {
      payload: z.object({ batchId: z.string() }),
      retry: { maxAttempts: 3 },
      run: () => { runs++; return "ok"; },
    });
    await worker.queue.start();
    const failed = await untilStatus(worker, bad.id, "failed");
    expect(failed.error?.code).toBe("VALIDATION");
    expect(failed.attempt).toBe(1);
    await untilStatus(worker, good.id, "completed");
    expect(runs).toBe(1);
  });

  it("leaves a job of a type with no local handler pending until one is defined", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("other", { run: () => null });
    await tq.queue.start();
    const job = await tq.queue.enqueue("later.defined", { x: 1 });
    await tq.clock.advance(5_000);
    expect((await tq.queue.getJob(job.id))?.status).toBe("pending");
    expect((await tq.queue.getJob(job.id))?.attempt).toBe(0);
    tq.queue.defineHandler("later.defined", { run: () => "ran" });
    expect((await untilStatus(tq, job.id, "completed")).result).toBe("ran");
  });
});

describe("job lifecycle", () => {
  it("goes blocked -> pending -> running -> completed, and the history says so", async () => {
    const tq = newQueue();
    const gate = deferred();
    const parentGate = deferred();
    tq.queue.defineHandler("parent", { run: () => parentGate.promise.then(() => "p") });
    tq.queue.defineHandler("child", { run: () => gate.promise.then(() => "c") });
    await tq.queue.start();
    const [parent, child] = await tq.queue.enqueueMany([
      { key: "p", type: "parent" },
      { key: "c", type: "child", dependsOn: ["p"] },
    ]);
    expect(child?.status).toBe("blocked");
    await untilStatus(tq, parent!.id, "running");
    expect((await tq.queue.getJob(child!.id))?.status).toBe("blocked");
    parentGate.resolve();
    await untilStatus(tq, child!.id, "running");
    gate.resolve();
    const done = await untilStatus(tq, child!.id, "completed");
    expect(done.result).toBe("c");
    expect(done.startedAt).toBeInstanceOf(Date);
    expect(done.finishedAt).toBeInstanceOf(Date);
    const statuses = (await tq.queue.getJobLogs(child!.id)).filter((e) => e.kind === "status").map((e) => e.message as JobStatus);
    expect(statuses).toEqual(["blocked", "pending", "running", "completed"]);
  });

  it("cascade-cancels every transitive dependent when a dependency fails", async () => {
    const tq = newQueue();
    const ran: string[] = [];
    tq.queue.defineHandler("boom", { retry: { maxAttempts: 1 }, run: () => { throw new Error("boom"); } });
    tq.queue.defineHandler("ok", { run: (p) => { ran.push(String((p as { k: string }).k)); } });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:cancelled", "job:failed"]);
    const jobs = await tq.queue.enqueueMany([
      { key: "root", type: "boom" },
      { key: "a", type: "ok", payload: { k: "a" }, dependsOn: ["root"] },
      { key: "b", type: "ok", payload: { k: "b" }, dependsOn: ["a"] },
      { key: "c", type: "ok", payload: { k: "c" }, dependsOn: ["b", "side"] },
      { key: "side", type: "ok", payload: { k: "side" } },
    ]);
    await untilStatus(tq, jobs[0]!.id, "failed");
    await runUntil(tq.clock, async () => (await tq.queue.getJob(jobs[3]!.id))?.status === "cancelled");
    for (const i of [1, 2, 3]) {
      const job = await tq.queue.getJob(jobs[i]!.id);
      expect(job?.status).toBe("cancelled");
      expect(job?.attempt).toBe(0);
    }
    await untilStatus(tq, jobs[4]!.id, "completed");
    expect(ran).toEqual(["side"]);
    const cancelledIds = events.filter((e) => e.name === "job:cancelled").map((e) => (e.payload as { job: { id: string } }).job.id);
    expect(new Set(cancelledIds)).toEqual(new Set([jobs[1]!.id, jobs[2]!.id, jobs[3]!.id]));
  });

  it("cancels a dependent at once when its dependency already failed", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("boom", { retry: { maxAttempts: 1 }, run: () => { throw new Error("boom"); } });
    let childRuns = 0;
    tq.queue.defineHandler("child", { run: () => { childRuns++; } });
    await tq.queue.start();
    const events = recordEvents(tq.queue, ["job:cancelled"]);
    const parent = await tq.queue.enqueue("boom", {});
    await untilStatus(tq, parent.id, "failed");
    const child = await tq.queue.enqueue("child", {}, { dependsOn: [parent.id] });
    expect(child.status).toBe("cancelled");
    expect(events.map((e) => (e.payload as { job: { id: string } }).job.id)).toEqual([child.id]);
    await tq.clock.advance(1_000);
    expect(childRuns).toBe(0);
  });

  it("cancels at once a submitted graph hanging off an already failed job, through the whole batch", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("boom", { retry: { maxAttempts: 1 }, run: () => { throw new Error("boom"); } });
    let runs = 0;
    tq.queue.defineHandler("ok", { run: () => { runs++; } });
    await tq.queue.start();
    const parent = await tq.queue.enqueue("boom", {});
    await untilStatus(tq, parent.id, "failed");
    const events = recordEvents(tq.queue, ["job:cancelled"]);
    const jobs = await tq.queue.enqueueMany([
      { key: "a", type: "ok", dependsOn: [parent.id] },
      { key: "b", type: "ok", dependsOn: ["a"] },
      { key: "free", type: "ok" },
    ]);
    expect(jobs.map((j) => j.status)).toEqual(["cancelled", "cancelled", "pending"]);
    expect(events).toHaveLength(2);
    await untilStatus(tq, jobs[2]!.id, "completed");
    expect(runs).toBe(1);
  });
});

describe("handler log lines", () => {
  it("a handler that keeps logging does not hold back the outcome of another job, whose lines come first", async () => {
    const tq = newQueue({ concurrency: 2 });
    let logging = true;
    let chattyLines = 0;
    tq.queue.defineHandler("chatty", {
      run: async (_payload, ctx) => {
        while (logging) {
          ctx.log("info", `line ${chattyLines++}`);
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      },
    });
    tq.queue.defineHandler("quick", {
      run: (_payload, ctx) => {
        ctx.log("info", "quick's own line");
        return "done";
      },
    });
    const chatty = await tq.queue.enqueue("chatty", {});
    await tq.queue.start();
    await runUntil(tq.clock, () => chattyLines > 10);
    const quick = await tq.queue.enqueue("quick", {});
    const done = await untilStatus(tq, quick.id, "completed", { maxMs: 5_000 });
    expect(done.result).toBe("done");
    expect((await tq.queue.getJob(chatty.id))?.status).toBe("running");
    expect((await tq.queue.getJobLogs(quick.id)).map((entry) => entry.message)).toContain("quick's own line");
    logging = false;
    await untilStatus(tq, chatty.id, "completed");
  });
});

describe("handler log lines of a job that no longer exists", () => {
  it("are dropped and reported; the other jobs' lines of the same batch are written", async () => {
    const shared = new MemoryStorage();
    const deletedJob: { id?: string } = {};
    // As a store answers once retention deleted the job (finished, its handler still logging).
    const storage = wrapStorage(shared, {
      appendLogs: async (lines) => {
        const gone = deletedJob.id;
        if (gone !== undefined && lines.some((line) => line.jobId === gone)) throw new JobNotFoundError(gone);
        return shared.appendLogs(lines);
      },
    });
    const tq = newQueue({ storage, concurrency: 2 });
    const errors = recordEvents(tq.queue, ["queue:error"]);
    const both = deferred();
    let waiting = 0;
    tq.queue.defineHandler("t", {
      run: async (payload, ctx) => {
        if (++waiting === 2) both.resolve();
        await both.promise;
        ctx.log("info", `line of ${(payload as { name: string }).name}`);
        return "ok";
      },
    });
    const [deleted, kept] = await tq.queue.enqueueMany([
      { key: "deleted", type: "t", payload: { name: "deleted" } },
      { key: "kept", type: "t", payload: { name: "kept" } },
    ]);
    deletedJob.id = deleted!.id;
    await tq.queue.start();
    await untilStatus(tq, kept!.id, "completed");
    const lines = (await shared.listLogs(kept!.id)).filter((entry) => entry.kind === "log").map((entry) => entry.message);
    expect(lines).toEqual(["line of kept"]);
    expect(errors.map((e) => (e.payload as { error: unknown }).error)).toContainEqual(expect.objectContaining({ code: "JOB_NOT_FOUND", jobId: deleted!.id }));
  });
});
