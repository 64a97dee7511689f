import { expect, it } from "vitest";
import { MemoryStorage, Queue, ValidationError, type SqlTransaction } from "../../src/index.js";

/** Shaped like a postgres.js TransactionSql: a tagged template with a savepoint. */
const fakeTransaction = Object.assign(async (_strings: TemplateStringsArray) => [], { savepoint: async () => undefined }) as unknown as SqlTransaction;

it("MemoryStorage refuses enqueue with tx (it has no transaction to join) instead of ignoring it", async () => {
  const queue = new Queue({ storage: new MemoryStorage() });
  queue.defineHandler("t", { run: () => undefined });
  const err = await queue.enqueue("t", {}, { tx: fakeTransaction }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ValidationError);
  expect((err as ValidationError).issues).toEqual([{ path: "tx", message: "not supported by MemoryStorage" }]);
  await expect(queue.enqueueMany([{ key: "a", type: "t" }], { tx: fakeTransaction })).rejects.toBeInstanceOf(ValidationError);
  expect((await queue.listJobs()).jobs).toHaveLength(0);
  await queue.shutdown();
});

it("listJobs takes one status or type as well as a list", async () => {
  const queue = new Queue();
  const a = await queue.enqueue("a", {});
  const b = await queue.enqueue("b", {}, { delayMs: 0 });
  await queue.cancel(b.id);
  expect((await queue.listJobs({ type: "a" })).jobs.map((j) => j.id)).toEqual([a.id]);
  expect((await queue.listJobs({ status: "cancelled" })).jobs.map((j) => j.id)).toEqual([b.id]);
  expect((await queue.listJobs({ status: ["pending", "cancelled"], type: ["a", "b"] })).jobs).toHaveLength(2);
  await expect(queue.listJobs({ status: "done" as never })).rejects.toBeInstanceOf(ValidationError);
  await queue.shutdown();
});
