import { describe, expect, it } from "vitest";
import { timeOrderedId, uuidText } from "../../workers/common/ids";
import { idempotentJobId } from "../../workers/common/jobs";
import { uuidTime, uuidVersion } from "../../workers/test-support/uuids";

describe("time-ordered ids (UUID version 7)", () => {
  it("carry the version, the RFC variant and the time they were made in their first 48 bits", () => {
    const at = Date.UTC(2026, 10, 26, 12, 34, 56, 789);
    const id = timeOrderedId(at);
    expect(uuidVersion(id)).toBe(7);
    expect(uuidTime(id)).toBe(at);
    expect(uuidTime(timeOrderedId(0))).toBe(0);
    // The last millisecond 48 bits hold (year 10889): no carry into the version bits.
    expect(uuidTime(timeOrderedId(2 ** 48 - 1))).toBe(2 ** 48 - 1);
    expect(uuidVersion(timeOrderedId(2 ** 48 - 1))).toBe(7);
  });

  it("sort by time as text, the order Postgres gives uuids, whatever their random bits", () => {
    const times = [1, 255, 256, 65_535, 65_536, 2 ** 40, Date.now(), Date.now() + 1, 2 ** 47 + 3];
    const ids = times.map((t) => timeOrderedId(t));
    expect([...ids].sort()).toEqual(ids);
  });

  it("differ when made in the same millisecond", () => {
    const now = Date.now();
    const ids = new Set(Array.from({ length: 10_000 }, () => timeOrderedId(now)));
    expect(ids.size).toBe(10_000);
  });
});

describe("uuidText", () => {
  it("sets the version and variant over whatever bits the bytes had", () => {
    const ones = new Uint8Array(16).fill(0xff);
    expect(uuidText(ones, 8)).toBe("ffffffff-ffff-8fff-bfff-ffffffffffff");
    expect(uuidText(new Uint8Array(20), 7)).toBe("00000000-0000-7000-8000-000000000000");
  });
});

describe("job ids from an Idempotency-Key", () => {
  it("are version 8 (a hash, not a time) and the same for the same tenant, user and key", async () => {
    const a = await idempotentJobId("t", "u", "k");
    expect(uuidVersion(a)).toBe(8);
    expect(await idempotentJobId("t", "u", "k")).toBe(a);
    expect(await idempotentJobId("t", "u", "k2")).not.toBe(a);
    expect(await idempotentJobId("t", "u2", "k")).not.toBe(a);
  });
});
