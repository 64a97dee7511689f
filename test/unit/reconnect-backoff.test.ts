import { describe, expect, it } from "vitest";
import { reconnectBackoffSeconds } from "../../src/storage/postgres/driver.js";

describe("reconnectBackoffSeconds", () => {
  it("starts near 50 ms and doubles, jittered to between half and all of the step", () => {
    for (const retries of [0, 1, 2, 3]) {
      const step = 0.05 * 2 ** retries;
      for (let i = 0; i < 200; i++) {
        const delay = reconnectBackoffSeconds(retries);
        expect(delay).toBeGreaterThanOrEqual(step / 2);
        expect(delay).toBeLessThanOrEqual(step);
      }
    }
  });

  it("never waits more than a second, however many failures came before", () => {
    for (const retries of [5, 10, 30, 1_000, Number.MAX_SAFE_INTEGER]) {
      for (let i = 0; i < 50; i++) {
        const delay = reconnectBackoffSeconds(retries);
        expect(delay).toBeGreaterThanOrEqual(0.5);
        expect(delay).toBeLessThanOrEqual(1);
      }
    }
  });

  it("treats a negative count as none", () => {
    expect(reconnectBackoffSeconds(-3)).toBeLessThanOrEqual(0.05);
  });
});
