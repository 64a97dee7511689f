import { afterEach, describe, expect, it } from "vitest";
import { MemoryStorage } from "../../src/storage/memory.js";
import { closeAll, deferred, newQueue, runUntil, untilStatus, wrapStorage } from "./support.js";

afterEach(closeAll);

/** A queue on a fresh MemoryStorage whose claims are counted; its poll is too slow to matter here. */
function countedQueue(options: Parameters<typeof newQueue>[0] = {}) {
  const shared = new MemoryStorage();
  const counted = { claims: 0 };
  const storage = wrapStorage(shared, {
    claimJobs: async (request) => {
      counted.claims++;
      return shared.claimJobs(request);
    },
  });
  return { ...newQueue({ pollIntervalMs: 600_000, ...options, storage }), counted };
}

/** Handler "t": a run whose payload says `hold` waits until `gate` opens. */
function heldHandler(tq: ReturnType<typeof countedQueue>) {
  const gate = deferred();
  tq.queue.defineHandler("t", {
    run: async (payload) => {
      if ((payload as { hold?: boolean } | null)?.hold === true) await gate.promise;
    },
  });
  return gate;
}

const within = { maxMs: 5_000 };

describe("claiming once the queue ran dry", () => {
  it("does not claim again when a job finishes after a claim found less than it asked for; a new job still wakes it", async () => {
    const tq = countedQueue({ concurrency: 2 });
    const gate = heldHandler(tq);
    const [held] = await tq.queue.enqueueMany([{ key: "a", type: "t", payload: { hold: true } }]);
    await tq.queue.start();
    await untilStatus(tq, held!.id, "running", within);
    // The claim that found one job of two is followed by one more, which finds none.
    await runUntil(tq.clock, () => tq.counted.claims >= 2, within);
    await tq.clock.advance(1_000);
    const dry = tq.counted.claims;
    gate.resolve();
    await untilStatus(tq, held!.id, "completed", within);
    await tq.clock.advance(1_000);
    expect(tq.counted.claims).toBe(dry);

    const next = await tq.queue.enqueue("t", {});
    await untilStatus(tq, next.id, "completed", within);
    expect(tq.counted.claims).toBeGreaterThan(dry);
  });

  it("claims again when a job holding resources finishes, so a job left for lack of them starts without the poll", async () => {
    const tq = countedQueue({ concurrency: 2, capacity: { cpu: 2 } });
    const gate = deferred();
    tq.queue.defineHandler("big", {
      resources: { cpu: 2 },
      run: async (payload) => {
        if ((payload as { hold?: boolean } | null)?.hold === true) await gate.promise;
      },
    });
    const [first, second] = await tq.queue.enqueueMany([
      { key: "a", type: "big", payload: { hold: true } },
      { key: "b", type: "big", payload: {} },
    ]);
    await tq.queue.start();
    await untilStatus(tq, first!.id, "running", within);
    await tq.clock.advance(1_000);
    expect((await tq.queue.getJob(second!.id))?.status).toBe("pending");
    gate.resolve();
    await untilStatus(tq, second!.id, "completed", within);
  });

  it("claims again when a job finishes while the last claim was full", async () => {
    const tq = countedQueue({ concurrency: 1 });
    heldHandler(tq);
    const jobs = await tq.queue.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ key: `j${i}`, type: "t", payload: {} })));
    await tq.queue.start();
    for (const job of jobs) await untilStatus(tq, job.id, "completed", within);
  });
});
