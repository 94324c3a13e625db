import { describe, expect, it } from "vitest";
import { positiveInteger, positiveNumber } from "../../workers/common/vars";

describe("numeric vars", () => {
  it("fall back on a missing, empty, zero, negative or unreadable value", () => {
    // A 0 taken as given would, for DEAD_JOBS_RETENTION_DAYS, delete every dead job at once.
    for (const value of [undefined, "", "0", "-3", "abc", "Infinity"]) {
      expect([value, positiveNumber(value, 7), positiveInteger(value, 7)]).toEqual([value, 7, 7]);
    }
  });

  it("take a fraction where a number may be one, and the whole part where it must be whole", () => {
    expect([positiveNumber("0.05", 7), positiveInteger("2.9", 7), positiveInteger("0.5", 7)]).toEqual([
      0.05, 2, 7,
    ]);
  });
});
