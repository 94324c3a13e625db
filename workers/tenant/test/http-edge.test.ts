import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { describe, expect, it, vi } from "vitest";
import { type BaseEnv, onError, requestIdOf, requestLog } from "../../common/http";
import { loggedLines } from "../../test-support/logs";
import type { HonoEnv } from "../src/env";
import { requestContext, timed } from "../src/middleware/request";

describe("an unexpected exception at the HTTP edge", () => {
  it("is answered 500 internal_error in the one error shape, its message only in the log", async () => {
    const app = new Hono<BaseEnv>();
    app.onError(onError);
    app.get("/boom", () => {
      throw new Error('duplicate key value violates unique constraint "users_secret_idx"');
    });
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const res = await app.request("/boom");
      const text = await res.text();
      expect([res.status, JSON.parse(text)]).toEqual([
        500,
        { error: { code: "internal_error", message: "internal error", request_id: "unknown" } },
      ]);
      expect(text).not.toContain("users_secret_idx");
      expect(errors.mock.calls.map(([line]) => String(line)).join("\n")).toContain("users_secret_idx");
    } finally {
      errors.mockRestore();
    }
  });
});

describe("an HTTP exception of a status the API does not answer with", () => {
  it("is answered 500 internal_error, its message kept out of the answer and put in the request's line", async () => {
    const app = new Hono<BaseEnv>();
    app.use("*", requestLog);
    app.onError(onError);
    app.get("/upstream", () => {
      throw new HTTPException(502, { message: "upstream at 10.0.0.7:5432 refused" });
    });
    const lines = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      const res = await app.request("/upstream");
      const text = await res.text();
      expect([res.status, JSON.parse(text).error.code]).toEqual([500, "internal_error"]);
      expect(text).not.toContain("10.0.0.7");
      expect(loggedLines(lines).find((l) => l.msg === "request")).toMatchObject({
        error_code: "internal_error",
        error_detail: "HTTP 502: upstream at 10.0.0.7:5432 refused",
      });
    } finally {
      lines.mockRestore();
    }
  });
});

describe("the request id", () => {
  it("keeps a well-formed incoming X-Request-Id, so traces join up", () => {
    expect(requestIdOf("trace-1234.abc:9_Z")).toBe("trace-1234.abc:9_Z");
  });

  it("replaces any other with a new one, so a client cannot write into the log lines through it", () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const incoming of [
      undefined,
      "",
      "short",
      "a".repeat(129),
      'x","level":"error',
      "two\nlines-1234",
    ]) {
      expect(requestIdOf(incoming)).toMatch(uuid);
    }
  });
});

describe("Server-Timing's db entry", () => {
  it("adds up every database call the request made", async () => {
    const app = new Hono<HonoEnv>();
    app.use(requestContext);
    const call = () => new Promise((resolve) => setTimeout(resolve, 30));
    app.get("/two-calls", async (c) => {
      await timed(c, call);
      await timed(c, call);
      return c.text("ok");
    });
    const lines = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      const res = await app.request("/two-calls");
      const db = /db;dur=([\d.]+)/.exec(res.headers.get("server-timing") ?? "")?.[1];
      expect(Number(db)).toBeGreaterThanOrEqual(55);
    } finally {
      lines.mockRestore();
    }
  });
});
