import { describe, expect, it } from "vitest";
import { storableJson, storableText, unstorableTextAt } from "../../workers/common/text";

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
