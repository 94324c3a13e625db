import { describe, expect, it } from "vitest";
import { attempt, mayHaveCommitted } from "../../workers/common/db";

/** A driver error as pg and the Neon driver throw it: a message, and a code when there is one. */
const failing = (code?: string) => () =>
  Promise.reject(Object.assign(new Error(`failed${code ? ` (${code})` : ""}`), code ? { code } : {}));

describe("database failures", () => {
  it.each([
    ["23505", "query", false],
    ["25006", "unavailable", false],
    ["40P01", "unavailable", false],
    ["55P03", "unavailable", false],
    ["57014", "timeout", false],
    ["57P01", "unavailable", true],
    ["08006", "unavailable", true],
    [undefined, "unavailable", true],
    ["ECONNRESET", "unavailable", true],
  ] as const)("with code %s are %s, and may have committed: %s", async (code, kind, committed) => {
    const result = await attempt(failing(code));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect([result.error.kind, mayHaveCommitted(result.error)]).toEqual([kind, committed]);
  });

  it("read the driver's error under drizzle's wrapper", async () => {
    const wrapped = () =>
      Promise.reject(
        new Error("Failed query: …", { cause: Object.assign(new Error("dup"), { code: "23505" }) }),
      );
    const result = await attempt(wrapped);
    expect(result.ok ? null : [result.error.kind, result.error.code, result.error.message]).toEqual([
      "query",
      "23505",
      "dup",
    ]);
  });

  it("whose wait we gave up on may have committed: the server may carry the statement through", async () => {
    const result = await attempt(() => new Promise(() => undefined), 10);
    expect(result.ok ? null : [result.error.kind, mayHaveCommitted(result.error)]).toEqual(["timeout", true]);
  });
});
