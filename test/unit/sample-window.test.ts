import { describe, expect, it } from "vitest";
import { SampleWindow } from "../../src/sample-window.js";

describe("SampleWindow", () => {
  it("answers the values taken since a time, oldest first", () => {
    const window = new SampleWindow(8);
    for (let at = 1; at <= 5; at++) window.add(at * 10, at);
    expect(window.valuesSince(0)).toEqual([1, 2, 3, 4, 5]);
    expect(window.valuesSince(30)).toEqual([3, 4, 5]);
    // Forgotten ones stay forgotten, even when asked from an earlier time.
    expect(window.valuesSince(0)).toEqual([3, 4, 5]);
    expect(window.valuesSince(51)).toEqual([]);
  });

  it("keeps the latest `capacity` samples once full, across many turns of its arrays", () => {
    const window = new SampleWindow(3);
    for (let at = 1; at <= 1_000; at++) window.add(at, at * 2);
    expect(window.valuesSince(0)).toEqual([1_996, 1_998, 2_000]);
    window.add(1_001, -1);
    expect(window.valuesSince(0)).toEqual([1_998, 2_000, -1]);
    expect(window.valuesSince(1_001)).toEqual([-1]);
    window.add(1_002, 7);
    expect(window.valuesSince(0)).toEqual([-1, 7]);
  });

  it("answers nothing before its first sample", () => {
    expect(new SampleWindow(4_096).valuesSince(Number.NEGATIVE_INFINITY)).toEqual([]);
  });

  it("works with room for one sample", () => {
    const window = new SampleWindow(1);
    window.add(1, 1);
    window.add(2, 2);
    expect(window.valuesSince(0)).toEqual([2]);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("refuses a capacity of %s", (capacity) => {
    expect(() => new SampleWindow(capacity)).toThrow(RangeError);
  });
});
