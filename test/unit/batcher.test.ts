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

  it("without it, a refused batch fails every item", async () => {
    const s = store();
    const batcher = new Batcher(s.write, 200);
    const results = await Promise.allSettled(["a", "bad"].map((item) => batcher.add(item)));
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(s.calls).toHaveLength(1);
  });
});
