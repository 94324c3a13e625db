import { describe, expect, it } from "vitest";
import {
  JobMessage,
  MAX_JSON_BYTES,
  RecordAnalyticsPayload,
  SendNotificationsPayload,
  UpdateContentPayload,
} from "../../workers/common/jobs";

/** properties whose JSON is exactly `bytes` long, made of one repeated character. */
function propertiesOf(bytes: number, char: string): Record<string, string> {
  const charBytes = new TextEncoder().encode(char).length;
  const overhead = JSON.stringify({ p: "" }).length;
  const repeats = Math.floor((bytes - overhead) / charBytes);
  const filler = "x".repeat(bytes - overhead - repeats * charBytes);
  return { p: char.repeat(repeats) + filler };
}

const accepts = (properties: unknown) =>
  RecordAnalyticsPayload.safeParse({ event_type: "page.view", properties }).success;

describe("the JSON size cap of properties and data", () => {
  for (const [name, char] of [
    ["ASCII", "a"],
    ["two-byte characters", "é"],
    ["three-byte characters", "€"],
    ["four-byte characters (surrogate pairs)", "😀"],
  ] as const) {
    it(`counts UTF-8 bytes of ${name}: the cap is accepted, one byte more is refused`, () => {
      const atCap = propertiesOf(MAX_JSON_BYTES, char);
      expect(new TextEncoder().encode(JSON.stringify(atCap)).length).toBe(MAX_JSON_BYTES);
      expect(accepts(atCap)).toBe(true);
      expect(accepts(propertiesOf(MAX_JSON_BYTES + 1, char))).toBe(false);
    });
  }

  it("takes JSON data only: a v8 message's bigints, Maps, Dates, NaN and cycles are refused, not thrown on", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const value of [1n, new Map([["a", 1]]), new Date(0), Number.NaN, Number.POSITIVE_INFINITY]) {
      const parsed = RecordAnalyticsPayload.safeParse({
        event_type: "page.view",
        properties: { deep: [value] },
      });
      expect(parsed.error?.issues.map((i) => i.message)).toEqual([
        "JSON data only: strings, finite numbers, booleans, null, arrays and plain objects",
      ]);
    }
    expect(
      RecordAnalyticsPayload.safeParse({ event_type: "page.view", properties: cyclic }).error?.issues,
    ).toEqual([expect.objectContaining({ message: "nested at most 32 levels" })]);
    // JSON.parse's own output, an object without a prototype, and undefined (JSON leaves it out) pass.
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(accepts({ a: [1, "x", true, null, { b: -0.5 }], bare, gone: undefined })).toBe(true);
  });

  it("refuses text under the cap in characters but over it in bytes", () => {
    const properties = { p: "€".repeat(MAX_JSON_BYTES / 2) };
    expect(JSON.stringify(properties).length).toBeLessThan(MAX_JSON_BYTES);
    expect(accepts(properties)).toBe(false);
  });
});

describe("event edits", () => {
  const edit = (updates: Record<string, unknown>) =>
    UpdateContentPayload.safeParse({
      content_type: "events",
      content_id: "d0000000-0000-4000-8000-000000000001",
      updates,
    }).success;

  it("take only http(s) image URLs: a page renders them", () => {
    expect(edit({ image_url: "https://cdn.example/e.png" })).toBe(true);
    expect(edit({ image_url: null })).toBe(true);
    for (const image_url of ["javascript:alert(1)", "data:image/png;base64,AAAA", "ftp://x.example/e.png"]) {
      expect(edit({ image_url })).toBe(false);
    }
  });

  it("refuse a time without a UTC offset, which Postgres would read in its own time zone", () => {
    expect(edit({ start_date: "2030-01-01T10:00:00Z" })).toBe(true);
    expect(edit({ start_date: "2030-01-01T10:00:00" })).toBe(false);
  });

  it("refuse one that names no field to change", () => {
    expect([edit({ title: "x" }), edit({})]).toEqual([true, false]);
  });

  it("refuse an end before the start when both are given", () => {
    expect(edit({ start_date: "2030-01-02T00:00:00Z", end_date: "2030-01-01T00:00:00Z" })).toBe(false);
    expect(edit({ start_date: "2030-01-01T00:00:00Z", end_date: "2030-01-01T00:00:00Z" })).toBe(true);
    expect(edit({ start_date: "2030-01-01T00:00:00+02:00", end_date: "2029-12-31T23:30:00Z" })).toBe(true);
    // To the microsecond, as Postgres compares them.
    expect(edit({ start_date: "2030-01-01T00:00:00.0005Z", end_date: "2030-01-01T00:00:00.0004Z" })).toBe(
      false,
    );
  });
});

describe("the bounds of each field: the edge is taken, one past it is refused", () => {
  const id = (n: number) => `d0000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
  const notification = (fields: Record<string, unknown>) =>
    SendNotificationsPayload.safeParse({ type: "info", title: "Hi", message: "Hello", ...fields }).success;

  it("notifies 1 to 500 recipients in one job: the fan-out is bounded, and an empty list (a job that notifies nobody) is refused", () => {
    const recipients = (n: number) => Array.from({ length: n }, (_, i) => id(i + 1));
    expect([
      notification({ recipient_ids: recipients(1) }),
      notification({ recipient_ids: recipients(500) }),
      notification({ recipient_ids: recipients(501) }),
      notification({ recipient_ids: [] }),
    ]).toEqual([true, true, false, false]);
  });

  it("refuses a notification title of spaces only, or an empty message, which would show as nothing", () => {
    expect([notification({ title: " Hi " }), notification({ title: "   " })]).toEqual([true, false]);
    expect([notification({ message: "." }), notification({ message: "" })]).toEqual([true, false]);
  });

  it("takes event types of lower-case letters, digits and _ . : -, starting with a letter, at most 100", () => {
    const eventType = (event_type: string) => RecordAnalyticsPayload.safeParse({ event_type }).success;
    expect(["page.view", "a:b_c-d.1", `a${"b".repeat(99)}`].map(eventType)).toEqual([true, true, true]);
    expect(["Page.View", "page view", "1page", "", `a${"b".repeat(100)}`].map(eventType)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it("takes priorities 1 to 10", () => {
    const message = (priority: number) =>
      JobMessage.safeParse({
        v: 1,
        job_id: id(1),
        tenant_id: id(2),
        user_id: id(3),
        priority,
        created_at: "2026-11-26T00:00:00Z",
        queue: "analytics",
        operation: "record_analytics",
        payload: { event_type: "page.view", properties: {} },
      }).success;
    expect([0, 1, 10, 11].map(message)).toEqual([false, true, true, false]);
  });
});
