import { expect, it } from "vitest";
import { ManualClock, StorageError } from "../../src/index.js";
import { withTimeout } from "../../src/timeout.js";

const later = <T>(clock: ManualClock, ms: number, value: T) => new Promise<T>((resolve) => clock.setTimer(() => resolve(value), ms));

it("answers with the work and leaves no timer behind", async () => {
  const clock = new ManualClock();
  const done = withTimeout(clock, later(clock, 50, "ok"), 100, () => new StorageError("late"));
  await clock.advance(50);
  await expect(done).resolves.toBe("ok");
  expect(clock.pendingTimers).toBe(0);
});

it("fails with the caller's typed error once the deadline passes on the injected clock, and only then", async () => {
  const clock = new ManualClock();
  let failed = 0;
  const done = withTimeout(clock, new Promise<never>(() => undefined), 100, () => (failed++, new StorageError("no answer")));
  done.catch(() => undefined);
  await clock.advance(99);
  expect(failed).toBe(0);
  await clock.advance(1);
  await expect(done).rejects.toBeInstanceOf(StorageError);
  expect(failed).toBe(1);
  expect(clock.pendingTimers).toBe(0);
});

it("extraTurn: an answer due at the deadline itself still wins; without it the deadline does", async () => {
  for (const extraTurn of [true, false]) {
    const clock = new ManualClock();
    const deadlineFirst = withTimeout(clock, new Promise<string>((resolve) => queueMicrotask(() => void later(clock, 100, "answer").then(resolve))), 100, () => new StorageError("late"), extraTurn);
    deadlineFirst.catch(() => undefined);
    await clock.advance(100);
    if (extraTurn) await expect(deadlineFirst).resolves.toBe("answer");
    else await expect(deadlineFirst).rejects.toBeInstanceOf(StorageError);
    expect(clock.pendingTimers).toBe(0);
  }
});

it("no deadline when ms is undefined", async () => {
  const clock = new ManualClock();
  const done = withTimeout(clock, later(clock, 10_000_000, 1), undefined, () => new StorageError("never"));
  expect(clock.pendingTimers).toBe(1);
  await clock.advance(10_000_000);
  await expect(done).resolves.toBe(1);
});
