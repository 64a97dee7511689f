import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { StorageError } from "../../src/errors.js";
import { MemoryStorage } from "../../src/storage/memory.js";
import type { Storage } from "../../src/storage/storage.js";
import { closeAll, deferred, drive, newQueue, prefetchedBehindHeld, runUntil, untilStatus, wrapStorage } from "./support.js";

// What an attempt checks between its claim and its handler: an abort that came meanwhile, a lease
// that may have expired while it waited.

afterEach(closeAll);

/** A Standard Schema whose (async) validation waits for `gate`: the attempt sits between claim and handler. */
function gatedSchema(gate: Promise<void>, entered: () => void) {
  let calls = 0;
  return {
    "~standard": {
      version: 1 as const,
      vendor: "test",
      validate: async (value: unknown) => {
        // The first call is the enqueue's; the next ones are the attempts'.
        if (calls++ === 0) return { value };
        entered();
        await gate;
        return { value };
      },
    },
  };
}

describe("an attempt aborted while its payload is validated: the handler never runs", () => {
  it("a cancel: the job is cancelled and its handler not called", async () => {
    const tq = newQueue({ concurrency: 1 });
    const gate = deferred();
    let validating = false;
    let runs = 0;
    tq.queue.defineHandler("t", {
      payload: gatedSchema(gate.promise, () => { validating = true; }),
      run: () => { runs++; return "ran"; },
    });
    await tq.queue.start();
    const job = await tq.queue.enqueue("t", { n: 1 });
    await runUntil(tq.clock, () => validating);
    await tq.queue.cancel(job.id);
    await untilStatus(tq, job.id, "cancelled");
    gate.resolve();
    await tq.clock.advance(100);
    await tq.clock.advance(100);
    expect(runs).toBe(0);
  });

  it("a shutdown: the job, released unburnt, runs once, on another worker", async () => {
    const clock = new ManualClock();
    const shared = new MemoryStorage();
    const a = newQueue({ clock, storage: wrapStorage(shared), concurrency: 1, shutdownGraceMs: 0, workerId: "a" });
    const gate = deferred();
    let validating = false;
    const runs: string[] = [];
    a.queue.defineHandler("t", {
      payload: gatedSchema(gate.promise, () => { validating = true; }),
      run: () => { runs.push("a"); return "a"; },
    });
    await a.queue.start();
    const job = await a.queue.enqueue("t", { n: 1 });
    await runUntil(clock, () => validating);
    await drive(clock, a.queue.shutdown());
    expect(await shared.getJob(job.id)).toMatchObject({ status: "pending", attempt: 0 });

    const b = newQueue({ clock, storage: wrapStorage(shared), concurrency: 1, workerId: "b" });
    b.queue.defineHandler("t", { run: () => { runs.push("b"); return "b"; } });
    await b.queue.start();
    await untilStatus(b, job.id, "completed");
    gate.resolve();
    await clock.advance(10);
    await clock.advance(10);
    expect(runs).toEqual(["b"]);
  });
});

describe("a prefetched attempt whose lease expired unrenewed while it waited for a slot", () => {
  it("does not start: its job was rescued and ran on another worker", async () => {
    const LEASE_MS = 300;
    const clock = new ManualClock();
    const shared = new MemoryStorage();
    let heartbeatsFail = false;
    const flaky: Storage = wrapStorage(shared, {
      heartbeat: async (...args) => {
        if (heartbeatsFail) throw new StorageError("connection lost");
        return shared.heartbeat(...args);
      },
    });
    const a = newQueue({ clock, storage: flaky, concurrency: 1, prefetch: 1, leaseMs: LEASE_MS, workerId: "a" });
    const hold = deferred<string>();
    const runs: string[] = [];
    a.queue.defineHandler("t", {
      run: (payload) => {
        const name = (payload as { name: string }).name;
        runs.push(`a:${name}`);
        return name === "x" ? hold.promise : name;
      },
    });
    const x = await a.queue.enqueue("t", { name: "x" });
    const y = await a.queue.enqueue("t", { name: "y" });
    await a.queue.start();
    await untilStatus(a, x.id, "running");
    await untilStatus(a, y.id, "running"); // y prefetched: leased to A, waiting for A's only slot
    expect(runs).toEqual(["a:x"]);
    heartbeatsFail = true;
    // B takes over y once its lease expired and runs it to completion.
    const b = newQueue({ clock, storage: wrapStorage(shared), concurrency: 2, leaseMs: LEASE_MS, workerId: "b" });
    b.queue.defineHandler("t", {
      run: (payload) => {
        const name = (payload as { name: string }).name;
        runs.push(`b:${name}`);
        return name === "x" ? new Promise(() => undefined) : name;
      },
    });
    await b.queue.start();
    await untilStatus(b, y.id, "completed");
    // A's slot frees: A starts y, whose lease A has not renewed for more than a lease.
    hold.resolve("x");
    await runUntil(clock, () => runs.includes("a:y") || runs.filter((r) => r.endsWith(":x")).length > 1, { maxMs: 2_000 }).catch(() => undefined);
    expect(runs.filter((r) => r.endsWith(":y"))).toEqual(["b:y"]);
  });
});

describe("a prefetched attempt whose heartbeats were applied but not answered while it waited", () => {
  it("is released unburnt, and runs: its lease was in fact still held", async () => {
    const shared = new MemoryStorage();
    let answersLost = false;
    const storage: Storage = wrapStorage(shared, {
      heartbeat: async (...args) => {
        const results = await shared.heartbeat(...args); // the store extends the leases ...
        if (answersLost) throw new StorageError("heartbeat timed out"); // ... but the answer does not arrive
        return results;
      },
    });
    const tq = newQueue({ storage, concurrency: 1, prefetch: 1, leaseMs: 300 });
    const { y, runs, releaseX } = await prefetchedBehindHeld(tq);
    answersLost = true;
    await runUntil(tq.clock, () => false, { maxMs: 500 }).catch(() => undefined);
    // y's lease is held in the store: it was renewed all along.
    expect((await shared.getJob(y))!.status).toBe("running");
    answersLost = false;
    releaseX();
    await runUntil(tq.clock, async () => {
      const status = (await shared.getJob(y))?.status;
      return status === "completed" || status === "failed";
    });
    expect(runs).toEqual(["x", "y"]);
    expect(await shared.getJob(y)).toMatchObject({ status: "completed" });
  });
});

describe("a prefetched attempt cancelled while it waits for a slot", () => {
  it("gives up its place and its resources at once: another job is claimed while the slot is still taken", async () => {
    const tq = newQueue({ concurrency: 1, prefetch: 1, capacity: { gpu: 1 } });
    const hold = deferred<string>();
    const runs: string[] = [];
    tq.queue.defineHandler("t", {
      run: (payload) => {
        const name = (payload as { name: string }).name;
        runs.push(name);
        return name === "x" ? hold.promise : name;
      },
    });
    const x = await tq.queue.enqueue("t", { name: "x" });
    const y = await tq.queue.enqueue("t", { name: "y" }, { resources: { gpu: 1 } });
    await tq.queue.start();
    await untilStatus(tq, x.id, "running");
    await untilStatus(tq, y.id, "running"); // prefetched: leased, waiting for the only slot, holding the gpu
    await tq.queue.cancel(y.id);
    await untilStatus(tq, y.id, "cancelled");
    const z = await tq.queue.enqueue("t", { name: "z" }, { resources: { gpu: 1 } });
    // Claimed into the place y left, with the gpu y held, while x still runs.
    await untilStatus(tq, z.id, "running");
    expect(runs).toEqual(["x"]);
    hold.resolve("x");
    await untilStatus(tq, z.id, "completed");
    expect(runs).toEqual(["x", "z"]);
  });
});
