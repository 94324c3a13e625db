import { describe, expect, it } from "vitest";
import { cronMatches } from "../../scripts/cron";
import { CRON } from "../../workers/batch/src/cron/schedules";

const at = (iso: string) => new Date(iso);

describe("npm run dev's cron schedule", () => {
  it("fires the batch worker's schedules when Cloudflare would, in UTC", () => {
    expect(cronMatches(CRON.refreshViews, at("2026-11-27T10:05:00Z"))).toBe(true);
    expect(cronMatches(CRON.refreshViews, at("2026-11-27T10:07:00Z"))).toBe(false);
    expect(cronMatches(CRON.maintainPartitions, at("2026-11-27T03:17:00Z"))).toBe(true);
    expect(cronMatches(CRON.maintainPartitions, at("2026-11-27T04:17:00Z"))).toBe(false);
  });

  it("reads ranges, steps, lists and both day fields as cron does", () => {
    expect(cronMatches("0 9-17/4 * * *", at("2026-11-27T13:00:00Z"))).toBe(true);
    expect(cronMatches("0 9-17/4 * * *", at("2026-11-27T15:00:00Z"))).toBe(false);
    expect(cronMatches("30 2 1,15 * *", at("2026-11-15T02:30:00Z"))).toBe(true);
    expect(cronMatches("0 0 * * 0", at("2026-11-29T00:00:00Z"))).toBe(true); // a Sunday
    expect(cronMatches("0 0 * * 7", at("2026-11-29T00:00:00Z"))).toBe(true);
    // Day of month 1 or a Friday: 2026-11-27 is a Friday.
    expect(cronMatches("0 0 1 * 5", at("2026-11-27T00:00:00Z"))).toBe(true);
    expect(cronMatches("5/15 * * * *", at("2026-11-27T00:35:00Z"))).toBe(true);
    expect(cronMatches("0 0 * JAN *", at("2026-01-01T00:00:00Z"))).toBe(false);
    expect(cronMatches("* * *", at("2026-01-01T00:00:00Z"))).toBe(false);
  });
});
