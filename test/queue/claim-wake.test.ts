import { afterEach, describe, expect, it } from "vitest";
import { closeAll, newQueue, untilStatus } from "./support.js";

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
