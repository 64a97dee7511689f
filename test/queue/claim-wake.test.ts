import { afterEach, describe, expect, it } from "vitest";
import { MemoryStorage } from "../../src/storage/memory.js";
import { newJob } from "../storage/builders.js";
import { closeAll, newQueue, runUntil, untilStatus, wrapStorage } from "./support.js";

afterEach(closeAll);

describe("waking the claim loop", () => {
  // A slot freed as a claim round ends must start the next job: however many turns of the microtask
  // queue the handler takes, its return lands before, in or after the round's last steps.
  it.each(Array.from({ length: 24 }, (_, turns) => turns))("starts the next job when a handler returns after %i microtask turns, without the poll", async (turns) => {
    const tq = newQueue({ concurrency: 1, prefetch: 0, pollIntervalMs: 600_000 });
    tq.queue.defineHandler("t", {
      run: async () => {
        for (let i = 0; i < turns; i++) await null;
      },
    });
    const jobs = await tq.queue.enqueueMany(Array.from({ length: 3 }, (_, i) => ({ key: `j${i}`, type: "t", payload: {} })));
    await tq.queue.start();
    for (const job of jobs) expect((await untilStatus(tq, job.id, "completed", { maxMs: 5_000 })).status).toBe("completed");
  });
});

describe("waking the claim loop for pending changes", () => {
  it("claims for pending jobs of the types it runs, not for other types' (a backlog of those would cost a claim each)", async () => {
    const shared = new MemoryStorage();
    let claims = 0;
    const storage = wrapStorage(shared, {
      claimJobs: (request) => {
        claims++;
        return shared.claimJobs(request);
      },
    });
    const tq = newQueue({ storage, concurrency: 1, pollIntervalMs: 600_000 });
    tq.queue.defineHandler("b", { run: () => "done" });
    await tq.queue.start();
    await runUntil(tq.clock, () => claims > 0);
    await tq.clock.advance(100);
    const idle = claims;
    // Another process's jobs of a type this worker does not run: each insert is a pending change.
    const now = () => new Date(tq.clock.now());
    for (let i = 0; i < 10; i++) await shared.insertJobs({ jobs: [newJob({ type: "a", runAt: now() })], onDuplicate: "reject", now: now() });
    await tq.clock.advance(100);
    expect(claims).toBe(idle);
    // One of its own type is claimed at once.
    const mine = newJob({ type: "b", runAt: now() });
    await shared.insertJobs({ jobs: [mine], onDuplicate: "reject", now: now() });
    expect((await untilStatus(tq, mine.id, "completed", { maxMs: 5_000 })).status).toBe("completed");
  });
});
