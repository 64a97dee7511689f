import { afterEach, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/errors.js";
import { toJsonValue } from "../../src/json-value.js";
import { closeAll, newQueue } from "../queue/support.js";

afterEach(closeAll);

describe("maxPayloadBytes counts bytes", () => {
  it("refuses a payload whose UTF-8 JSON is larger than maxPayloadBytes (unit)", () => {
    // "€" is 1 UTF-16 unit but 3 UTF-8 bytes: JSON text "\"€€€€€€€€€€\"" is 12 chars, 32 bytes.
    const payload = "€".repeat(10);
    expect(Buffer.byteLength(JSON.stringify(payload))).toBe(32);
    expect(() => toJsonValue(payload, "payload", 20)).toThrow(ValidationError);
  });

  it("does not store a payload of 3x maxPayloadBytes through enqueue", async () => {
    const { queue } = newQueue({ maxPayloadBytes: 1_000 });
    queue.defineHandler("t", { run: () => null });
    const payload = { memo: "€".repeat(900) }; // 911 chars of JSON, 2,711 bytes
    expect(Buffer.byteLength(JSON.stringify(payload))).toBeGreaterThan(2_000);
    const outcome = await queue.enqueue("t", payload).then(
      () => "stored",
      (e: unknown) => (e instanceof ValidationError ? "refused" : e),
    );
    expect(outcome).toBe("refused");
    expect((await queue.listJobs()).jobs).toEqual([]);
  });
});
