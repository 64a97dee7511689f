import { describe, expect, it } from "vitest";
import { Batcher } from "../../src/scheduler/batcher.js";

/** A write that records each call and refuses any batch holding a "bad" item (or every batch once `down`). */
function store() {
  const calls: string[][] = [];
  let down = false;
  const write = async (items: readonly string[]) => {
    calls.push([...items]);
    if (down) throw new Error("connection lost");
    if (items.some((item) => item.startsWith("bad"))) throw new Error(`refused: ${items.join(",")}`);
    return items.map((item) => `ok ${item}`);
  };
  return { calls, write, goDown: () => void (down = true) };
}

describe("Batcher with isolateFailures", () => {
  it("writes each item of a refused batch alone: the others are written, the refused one fails alone", async () => {
    const s = store();
    const batcher = new Batcher(s.write, 200, true);
    const results = await Promise.allSettled(["a", "bad", "b", "c"].map((item) => batcher.add(item)));
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual(["ok a", "refused: bad", "ok b", "ok c"]);
    expect(s.calls).toEqual([["a", "bad", "b", "c"], ["a"], ["bad"], ["b"], ["c"]]);
  });

  it("gives every item the error after two lone writes failed first (an outage, not one bad item)", async () => {
    const s = store();
    s.goDown();
    const batcher = new Batcher(s.write, 200, true);
    const results = await Promise.allSettled(["a", "b", "c", "d", "e"].map((item) => batcher.add(item)));
    expect(results.every((r) => r.status === "rejected" && (r.reason as Error).message === "connection lost")).toBe(true);
    expect(s.calls).toEqual([["a", "b", "c", "d", "e"], ["a"], ["b"]]);
  });

  it("still writes the others after two refused items lead the batch, when the refusals are no outage", async () => {
    const s = store();
    const isOutage = (error: unknown) => (error as Error).message === "connection lost";
    const batcher = new Batcher(s.write, 200, true, 1, isOutage);
    const results = await Promise.allSettled(["bad1", "bad2", "a", "b"].map((item) => batcher.add(item)));
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual(["refused: bad1", "refused: bad2", "ok a", "ok b"]);
    expect(s.calls).toEqual([["bad1", "bad2", "a", "b"], ["bad1"], ["bad2"], ["a"], ["b"]]);
  });

  it("without it, a refused batch fails every item", async () => {
    const s = store();
    const batcher = new Batcher(s.write, 200);
    const results = await Promise.allSettled(["a", "bad"].map((item) => batcher.add(item)));
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(s.calls).toHaveLength(1);
  });
});

/** A write whose batches stay in flight until released, in the order they were sent. */
function heldStore() {
  const calls: string[][] = [];
  const releases: (() => void)[] = [];
  const write = (items: readonly string[]) => {
    calls.push([...items]);
    return new Promise<readonly string[]>((resolve) => releases.push(() => resolve(items.map((item) => `ok ${item}`))));
  };
  return { calls, write, release: () => releases.shift()?.() };
}

/** One turn of the event loop: the batcher sends what it has on the next one. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Answers the oldest batch in flight and lets the batcher send what waited behind it. */
async function releaseOne(s: ReturnType<typeof heldStore>): Promise<void> {
  s.release();
  await turn();
  await turn();
}

describe("Batcher with maxInFlight", () => {
  it("sends a further batch beside one in flight once it holds half of maxBatch, never more than maxInFlight at once", async () => {
    const s = heldStore();
    const batcher = new Batcher(s.write, 4, false, 2);
    const results = ["a", "b"].map((item) => batcher.add(item));
    await turn();
    expect(s.calls).toEqual([["a", "b"]]);
    results.push(batcher.add("c"));
    await turn();
    expect(s.calls).toHaveLength(1); // one item is a trickle: it waits for the batch in flight
    results.push(batcher.add("d"));
    await turn();
    expect(s.calls).toEqual([["a", "b"], ["c", "d"]]);
    results.push(...["e", "f", "g"].map((item) => batcher.add(item)));
    await turn();
    expect(s.calls).toHaveLength(2); // two in flight: the third waits although it is full enough
    s.release();
    await turn();
    await turn();
    expect(s.calls).toEqual([["a", "b"], ["c", "d"], ["e", "f", "g"]]);
    let drained = false;
    const drain = batcher.drain().then(() => (drained = true));
    s.release();
    await turn();
    expect(drained).toBe(false);
    s.release();
    await drain;
    expect(await Promise.all(results)).toEqual(["a", "b", "c", "d", "e", "f", "g"].map((item) => `ok ${item}`));
  });

  it("sends two batches at once when a burst fills both", async () => {
    const s = heldStore();
    const batcher = new Batcher(s.write, 4, false, 2);
    const results = ["a", "b", "c", "d", "e", "f", "g"].map((item) => batcher.add(item));
    await turn();
    await turn();
    expect(s.calls).toEqual([["a", "b", "c", "d"], ["e", "f", "g"]]);
    s.release();
    s.release();
    expect(await Promise.all(results)).toEqual(["a", "b", "c", "d", "e", "f", "g"].map((item) => `ok ${item}`));
  });

  it("keeps one batch in flight by default, however full the next one is", async () => {
    const s = heldStore();
    const batcher = new Batcher(s.write, 2);
    const results = ["a", "b", "c", "d"].map((item) => batcher.add(item));
    await turn();
    await turn();
    expect(s.calls).toEqual([["a", "b"]]);
    await releaseOne(s);
    expect(s.calls).toEqual([["a", "b"], ["c", "d"]]);
    s.release();
    expect(await Promise.all(results)).toEqual(["ok a", "ok b", "ok c", "ok d"]);
  });
});

describe("Batcher.drain", () => {
  it("resolves once what was added before it is written, however many items keep coming after", async () => {
    const s = heldStore();
    const batcher = new Batcher(s.write, 2);
    const before = ["a", "b", "c"].map((item) => batcher.add(item));
    let drained = false;
    const drain = batcher.drain().then(() => (drained = true));
    const after = ["d", "e"].map((item) => batcher.add(item));
    await turn();
    expect(s.calls).toEqual([["a", "b"]]);
    await releaseOne(s);
    expect(s.calls).toEqual([["a", "b"], ["c", "d"]]);
    expect(drained).toBe(false); // "c" is not written yet
    s.release();
    await drain;
    // "e" is not written yet: the drain did not wait for it.
    await turn();
    expect(s.calls).toEqual([["a", "b"], ["c", "d"], ["e"]]);
    s.release();
    expect(await Promise.all([...before, ...after])).toEqual(["a", "b", "c", "d", "e"].map((item) => `ok ${item}`));
  });

  it("resolves after a failed write too, and at once when nothing is waiting", async () => {
    const batcher = new Batcher(async (items: readonly string[]) => {
      if (items.includes("bad")) throw new Error("refused");
      return items.map((item) => `ok ${item}`);
    });
    await expect(batcher.drain()).resolves.toBeUndefined();
    const refused = batcher.add("bad");
    refused.catch(() => undefined);
    await batcher.drain();
    await expect(refused).rejects.toThrow("refused");
  });
});
