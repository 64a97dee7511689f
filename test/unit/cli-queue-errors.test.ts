import { describe, expect, it } from "vitest";
import { errorCoalescer } from "../../cli/queue-error-report.js";
import { ValidationError } from "../../src/errors.js";

describe("errorCoalescer", () => {
  const refused = new ValidationError("payload does not match the handler's schema", [{ path: "n", message: "expected number" }]);

  it("prints a repeating error once per window, then again with the count of those left out", () => {
    let now = 0;
    const accept = errorCoalescer(() => now, 10_000);
    expect(accept(refused, "schedule bad: tick 2026-12-04T20:21:03.000Z")).toEqual({
      code: "VALIDATION",
      message: "payload does not match the handler's schema",
      context: "schedule bad: tick 2026-12-04T20:21:03.000Z",
      suppressed: 0,
    });
    // The same error at later ticks: the tick's time in the context does not make it another error.
    for (let second = 1; second < 10; second += 1) {
      now = second * 1_000;
      expect(accept(refused, `schedule bad: tick 2026-12-04T20:21:${String(3 + second).padStart(2, "0")}.000Z`)).toBeNull();
    }
    now = 10_000;
    expect(accept(refused, "schedule bad: tick 2026-12-04T20:21:13.000Z")).toMatchObject({ suppressed: 9 });
    now = 10_001;
    expect(accept(refused, "schedule bad: tick 2026-12-04T20:21:14.000Z")).toBeNull();
  });

  it("prints different errors, and the same error of different schedules, each", () => {
    const accept = errorCoalescer(() => 0, 10_000);
    expect(accept(refused, "schedule a: tick 2026-12-04T20:21:03.000Z")).not.toBeNull();
    expect(accept(refused, "schedule b: tick 2026-12-04T20:21:03.000Z")).not.toBeNull();
    expect(accept(new Error("connection lost"), "claim")).toMatchObject({ code: "ERROR", message: "connection lost", context: "claim" });
    expect(accept(Object.assign(new Error("terminating connection"), { code: "57P01" }), "claim")).toMatchObject({ code: "57P01" });
  });

  it("keeps hostile errors to one line of bounded length", () => {
    const accept = errorCoalescer(() => 0, 10_000);
    const line = accept(new Error(`a\nb\r\n${"x".repeat(10_000)}`), "listener of\njob:completed");
    expect(line?.message).not.toMatch(/[\r\n]/);
    expect(line?.message.length).toBeLessThanOrEqual(2_000);
    expect(line?.context).toBe("listener of job:completed");
    for (const thrown of [null, undefined, 42, "text", { message: 7 }, Object.create(null)]) {
      expect(accept(thrown, "claim")?.message ?? "(suppressed)").not.toMatch(/\n/);
    }
  });
});
