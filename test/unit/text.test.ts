import { describe, expect, it, vi } from "vitest";
import { log } from "../../workers/common/log";
import { jsonText, storableJson, storableText, unstorableTextAt } from "../../workers/common/text";

describe("text Postgres cannot store", () => {
  it("is found by path, in keys too: U+0000 and unpaired surrogates, not pairs", () => {
    expect(unstorableTextAt("a\u0000b")).toBe("");
    expect(unstorableTextAt({ a: [{ b: "ok" }, { c: "x\udc00" }] })).toBe("a.1.c");
    expect(unstorableTextAt({ tags: ["x\u0000", "ok"] })).toBe("tags.0"); // an array's first item too
    expect(unstorableTextAt({ ok: { "k\ud800": 1 } })).toBe("ok.k\ud800");
    expect(unstorableTextAt({ smile: "\ud83d\ude00", n: 1, none: null })).toBeNull();
  });

  it("becomes U+FFFD in JSON text for jsonb, and only escapes that are escapes", () => {
    expect(storableJson({ "k\u0000": ["\ud800", "\ud83d\ude00"] })).toBe(
      '{"k\\ufffd":["\\ufffd","\ud83d\ude00"]}',
    );
    // A backslash followed by "u0000" is text, not an escape; after it, a real U+0000.
    expect(JSON.parse(storableJson("\\u0000\u0000"))).toBe("\\u0000\ufffd");
    expect(unstorableTextAt(JSON.parse(storableJson({ a: "\u0000\udfff" })))).toBeNull();
    expect(storableText("a\u0000\ud800b")).toBe("a\ufffd\ufffdb");
  });
});

describe("JSON text of whatever a message carried", () => {
  it("writes bigints as digits and a cycle as [circular], where JSON.stringify throws", () => {
    const cyclic: Record<string, unknown> = { n: 2n ** 70n };
    cyclic.self = cyclic;
    expect(JSON.parse(jsonText(cyclic))).toEqual({ n: "1180591620717411303424", self: "[circular]" });
    expect(JSON.parse(storableJson({ n: 1n, s: "\u0000" }))).toEqual({ n: "1", s: "\ufffd" });
    expect(jsonText(undefined)).toBe("null");
  });

  it("says why when a value cannot be written at all, rather than throwing", () => {
    let deep: unknown = [];
    for (let i = 0; i < 1_000_000; i++) deep = [deep];
    expect(Object.keys(JSON.parse(jsonText(deep)))).toEqual(["unserializable"]);
  });

  it("keeps a log line's level and message when a field holds what JSON cannot", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      log("warn", "odd job", { job: { n: 1n }, count: 2 });
      expect(JSON.parse(String(warn.mock.calls[0]?.[0]))).toMatchObject({
        level: "warn",
        msg: "odd job",
        job: { n: "1" },
        count: 2,
      });
    } finally {
      warn.mockRestore();
    }
  });
});
