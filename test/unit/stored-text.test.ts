import { describe, expect, it } from "vitest";
import { MAX_STORED_TEXT_BYTES, toStoredErrorInfo, toStoredText } from "../../src/stored-text.js";

const bytes = (text: string) => Buffer.byteLength(text);

describe("toStoredText", () => {
  it("keeps a short storable text as it is", () => {
    const text = "a plain message, é and 😀";
    expect(toStoredText(text)).toBe(text);
  });

  it("replaces U+0000 and lone surrogates with U+FFFD", () => {
    expect(toStoredText("a\u0000b\ud800c\udc00d😀")).toBe("a\uFFFDb\uFFFDc\uFFFDd😀");
  });

  it("cuts an 8 MiB text to the bound, with a marker giving the whole size", () => {
    const text = "x".repeat(8 * 1024 * 1024);
    const stored = toStoredText(text);
    expect(bytes(stored)).toBeLessThanOrEqual(MAX_STORED_TEXT_BYTES);
    expect(stored.startsWith("x".repeat(60_000))).toBe(true);
    expect(stored).toMatch(/… \[truncated: 8388608 bytes in all\]$/);
  });

  it("never cuts a character in half, whatever its width", () => {
    for (const unit of ["é", "€", "😀"]) {
      const stored = toStoredText(unit.repeat(MAX_STORED_TEXT_BYTES));
      expect(bytes(stored)).toBeLessThanOrEqual(MAX_STORED_TEXT_BYTES);
      expect(stored.includes("\uFFFD")).toBe(false);
      const kept = stored.slice(0, stored.indexOf("… [truncated"));
      expect(kept.replaceAll(unit, "")).toBe("");
    }
  });

  it("cleans and bounds a text that is long and unstorable at once", () => {
    const stored = toStoredText("\u0000".repeat(200_000));
    expect(bytes(stored)).toBeLessThanOrEqual(MAX_STORED_TEXT_BYTES);
    expect(stored.startsWith("\uFFFD\uFFFD")).toBe(true);
    expect(stored.includes("\u0000")).toBe(false);
  });
});

describe("toStoredErrorInfo", () => {
  it("answers the same object when nothing needs changing", () => {
    const info = { name: "Error", message: "m", code: "E" };
    expect(toStoredErrorInfo(info)).toBe(info);
  });

  it("cleans name, message and code", () => {
    expect(toStoredErrorInfo({ name: "N\u0000", message: "m\ud800", code: "C\u0000" })).toEqual({ name: "N\uFFFD", message: "m\uFFFD", code: "C\uFFFD" });
  });
});
