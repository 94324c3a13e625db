import { describe, expect, it, vi } from "vitest";
import { positiveInteger, positiveNumber, retention, shortSecret } from "../../workers/common/vars";

describe("numeric vars", () => {
  it("fall back on a missing, empty, zero, negative or unreadable value", () => {
    // A 0 taken as given would, for DEAD_JOBS_RETENTION_DAYS, delete every dead job at once.
    for (const value of [undefined, "", "0", "-3", "abc", "Infinity"]) {
      expect([value, positiveNumber(value, 7, "N"), positiveInteger(value, 7, "I")]).toEqual([value, 7, 7]);
    }
  });

  it("take a fraction where a number may be one, and the whole part where it must be whole", () => {
    expect([
      positiveNumber("0.05", 7, "N"),
      positiveInteger("2.9", 7, "I"),
      positiveInteger("0.5", 7, "I"),
    ]).toEqual([0.05, 2, 7]);
  });
});

describe("retentions", () => {
  it("keep everything when unset, empty or 0, silently, and when unreadable, saying so once", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      for (const value of [undefined, "", " ", "0"])
        expect([value, retention(value, "R_DAYS")]).toEqual([value, 0]);
      expect(warn).not.toHaveBeenCalled();
      expect(retention("30", "R_DAYS")).toBe(30);
      for (let i = 0; i < 2; i++)
        expect([retention("30d", "R_DAYS"), retention("0.5", "R_DAYS")]).toEqual([0, 0]);
      expect(warn.mock.calls.map(([line]) => JSON.parse(String(line)))).toEqual([
        expect.objectContaining({ msg: "var not understood", var: "R_DAYS", value: "30d", used: 0 }),
        expect.objectContaining({ msg: "var not understood", var: "R_DAYS", value: "0.5", used: 0 }),
      ]);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("secrets", () => {
  it("say once an isolate that one is shorter than 32 characters, and never what it is", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      for (let i = 0; i < 2; i++) {
        shortSecret("unit token", "change-me");
        shortSecret("unit token", "x".repeat(32));
      }
      const lines = warn.mock.calls.map(([line]) => String(line));
      expect(lines.map((l) => JSON.parse(l))).toEqual([
        expect.objectContaining({
          msg: "secret too short to resist guessing",
          secret: "unit token",
          length: 9,
        }),
      ]);
      expect(lines.join()).not.toContain("change-me");
    } finally {
      warn.mockRestore();
    }
  });
});
