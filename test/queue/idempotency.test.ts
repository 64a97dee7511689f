import { afterEach, describe, expect, it } from "vitest";
import { DuplicateJobError, ValidationError } from "../../src/errors.js";
import { closeAll, deferred, newQueue, snapshotStore, untilStatus } from "./support.js";

afterEach(closeAll);

describe("idempotency", () => {
  it("rejects a second live job with the same idempotencyKey, naming the existing one", async () => {
    const { queue } = newQueue();
    queue.defineHandler("settle", { run: () => null });
    const first = await queue.enqueue("settle", { batch: 1 }, { idempotencyKey: "b-1" });
    const before = await snapshotStore(queue);
    const error = await queue.enqueue("settle", { batch: 2 }, { idempotencyKey: "b-1" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DuplicateJobError);
    expect(error).toMatchObject({ code: "DUPLICATE_JOB", existingJobId: first.id, existingStatus: "pending" });
    expect(await snapshotStore(queue)).toEqual(before);
    // A different key is no duplicate.
    await expect(queue.enqueue("settle", { batch: 2 }, { idempotencyKey: "b-2" })).resolves.toMatchObject({ status: "pending" });
  });

  it.each(["reject", "return-existing"] as const)(
    "rejects a batch whose jobs share an idempotency key as VALIDATION, naming the key; nothing is stored (onDuplicate: %s)",
    async (onDuplicate) => {
      const { queue } = newQueue();
      queue.defineHandler("settle", { run: () => null });
      const before = await snapshotStore(queue);
      const error = await queue
        .enqueueMany(
          [
            { key: "a", type: "settle", payload: { n: 1 }, idempotencyKey: "k-1" },
            { key: "b", type: "settle", payload: { n: 2 }, dependsOn: ["a"] },
            { key: "c", type: "settle", payload: { n: 3 }, idempotencyKey: "k-1" },
          ],
          { onDuplicate },
        )
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ code: "VALIDATION", issues: [{ path: "[2].idempotencyKey" }] });
      expect((error as Error).message).toContain('"k-1"');
      expect(await snapshotStore(queue)).toEqual(before);
    },
  );

  it("rejects a batch with two jobs of the same payload under deduplicate: payload", async () => {
    const { queue } = newQueue();
    queue.defineHandler("report", { deduplicate: "payload", run: () => null });
    await expect(
      queue.enqueueMany([
        { key: "x", type: "report", payload: { month: 1 } },
        { key: "y", type: "report", payload: { month: 1 } },
      ]),
    ).rejects.toMatchObject({ code: "VALIDATION", issues: [{ path: "[1].idempotencyKey" }] });
    expect((await queue.listJobs()).jobs).toEqual([]);
  });

  it("returns the existing job with onDuplicate: return-existing", async () => {
    const { queue } = newQueue();
    queue.defineHandler("settle", { run: () => null });
    const first = await queue.enqueue("settle", { batch: 1 }, { idempotencyKey: "b-1" });
    const again = await queue.enqueue("settle", { batch: 99 }, { idempotencyKey: "b-1", onDuplicate: "return-existing" });
    expect(again.id).toBe(first.id);
    expect(again.payload).toEqual({ batch: 1 });
    expect((await queue.listJobs()).jobs).toHaveLength(1);
  });

  it("names the existing job's current status when it is running", async () => {
    const tq = newQueue();
    const gate = deferred();
    tq.queue.defineHandler("settle", { run: () => gate.promise });
    await tq.queue.start();
    const first = await tq.queue.enqueue("settle", {}, { idempotencyKey: "k" });
    await untilStatus(tq, first.id, "running");
    await expect(tq.queue.enqueue("settle", {}, { idempotencyKey: "k" })).rejects.toMatchObject({ existingJobId: first.id, existingStatus: "running" });
    gate.resolve();
  });

  it("treats the same payload with keys in another order as a duplicate under deduplicate: payload", async () => {
    const { queue } = newQueue();
    queue.defineHandler("report", { deduplicate: "payload", run: () => null });
    const first = await queue.enqueue("report", { month: "2026-01", account: { id: 7, region: "eu" } });
    await expect(queue.enqueue("report", { account: { region: "eu", id: 7 }, month: "2026-01" })).rejects.toMatchObject({
      code: "DUPLICATE_JOB",
      existingJobId: first.id,
    });
    const other = await queue.enqueue("report", { month: "2026-02", account: { id: 7, region: "eu" } });
    expect(other.id).not.toBe(first.id);
    expect(first.idempotencyKey).toBeDefined();
  });

  it("frees the key once the first job is terminal", async () => {
    const tq = newQueue();
    tq.queue.defineHandler("settle", { run: () => "done" });
    await tq.queue.start();
    const first = await tq.queue.enqueue("settle", {}, { idempotencyKey: "b-1" });
    await untilStatus(tq, first.id, "completed");
    const second = await tq.queue.enqueue("settle", {}, { idempotencyKey: "b-1" });
    expect(second.id).not.toBe(first.id);
    expect(second.status).toBe("pending");
  });

  it("frees the key of a cancelled job", async () => {
    const { queue } = newQueue();
    const first = await queue.enqueue("settle", {}, { idempotencyKey: "b-1" });
    await queue.cancel(first.id);
    await expect(queue.enqueue("settle", {}, { idempotencyKey: "b-1" })).resolves.toMatchObject({ status: "pending" });
  });

  it("rejects a whole graph when one node's key is live, storing none of it", async () => {
    const { queue } = newQueue();
    const existing = await queue.enqueue("t", {}, { idempotencyKey: "taken" });
    const before = await snapshotStore(queue);
    await expect(
      queue.enqueueMany([
        { key: "a", type: "t" },
        { key: "b", type: "t", idempotencyKey: "taken", dependsOn: ["a"] },
      ]),
    ).rejects.toMatchObject({ code: "DUPLICATE_JOB", existingJobId: existing.id });
    expect(await snapshotStore(queue)).toEqual(before);
  });
});
