import { describe, expect, it } from "vitest";
import { jobTime, microsOf, PgTime } from "../../workers/common/time";

describe("job times", () => {
  it("give the jobs of one request their order, in microseconds within the request's millisecond", () => {
    const at = "2026-11-27T07:00:00.123Z";
    const times = [0, 1, 99].map((i) => jobTime(at, i));
    expect(times).toEqual([
      "2026-11-27T07:00:00.123000Z",
      "2026-11-27T07:00:00.123001Z",
      "2026-11-27T07:00:00.123099Z",
    ]);
    expect(times.map(microsOf)).toEqual([0, 1, 99].map((i) => Date.parse(at) * 1000 + i));
    for (const t of times) expect(PgTime.safeParse(t).success).toBe(true);
    expect(() => jobTime("2026-11-27T07:00:00Z", 0)).toThrow(RangeError);
    expect(() => jobTime(at, 1000)).toThrow(RangeError);
  });

  it("are compared to the microsecond however they are written: Date.parse stops at the millisecond", () => {
    expect(microsOf("2026-11-27T07:00:00.123456+00:00")).toBe(microsOf("2026-11-27T09:00:00.123456+02:00"));
    // Past the microsecond, rounded as Postgres rounds (test/db/integrity.test.ts holds it to it).
    expect(microsOf("2026-11-27T07:00:00.1234569Z") - microsOf("2026-11-27T07:00:00.123Z")).toBe(457);
    expect(microsOf("2026-11-27T07:00:00Z")).toBe(Date.parse("2026-11-27T07:00:00Z") * 1000);
    expect(microsOf("2026-11-27T07:00:00.5Z") - microsOf("2026-11-27T07:00:00Z")).toBe(500_000);
  });
});

describe("times Postgres takes", () => {
  it("are those RFC 3339 can write in UTC too: Postgres writes later or earlier ones as no client reads them", () => {
    const verdicts = (times: string[]) => times.map((t) => [t, PgTime.safeParse(t).success]);
    const taken = [
      "0001-01-01T00:00:00Z",
      "0001-01-01T00:00:00-01:00",
      "9999-12-31T23:59:59.999999Z",
      "9999-12-31T23:59:59+05:00",
      "2030-06-01T00:00:00-15:59",
    ];
    const refused = [
      "0000-06-01T00:00:00Z",
      "2030-06-01T00:00:00+16:00",
      // A "no end" sentinel: year 10000 in UTC, which Postgres writes back as "10000-01-01T04:59:59+00:00".
      "9999-12-31T23:59:59-05:00",
      "0001-01-01T00:00:00+01:00",
      // Postgres rounds it up to 10000-01-01T00:00:00Z.
      "9999-12-31T23:59:59.9999995Z",
    ];
    expect(verdicts([...taken, ...refused])).toEqual([
      ...taken.map((t) => [t, true]),
      ...refused.map((t) => [t, false]),
    ]);
  });
});
