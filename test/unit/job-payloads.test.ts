import { describe, expect, it } from "vitest";
import { MAX_JSON_BYTES, RecordAnalyticsPayload, UpdateContentPayload } from "../../workers/common/jobs";

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

  it("refuse an end before the start when both are given", () => {
    expect(edit({ start_date: "2030-01-02T00:00:00Z", end_date: "2030-01-01T00:00:00Z" })).toBe(false);
    expect(edit({ start_date: "2030-01-01T00:00:00Z", end_date: "2030-01-01T00:00:00Z" })).toBe(true);
    expect(edit({ start_date: "2030-01-01T00:00:00+02:00", end_date: "2029-12-31T23:30:00Z" })).toBe(true);
  });
});
