import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { UNREACHABLE_PROXY, useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import worker from "../src/index";

let db: WorkerTestDb;
beforeAll(async () => {
  db = await useWorkerTestDatabase();
});

async function call(path: string, overrides: Partial<typeof env> = {}, init?: RequestInit) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://acme.localhost${path}`, init),
    { ...env, DATABASE_URL: db.url, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

describe("GET /health", () => {
  it("answers ok after a real query through the Neon driver", async () => {
    const res = await call("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", db: "ok" });
    // A probe's answer is about this moment: no cache on the way may keep it.
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get("server-timing")).toMatch(/db;dur=/);
  });

  it("lets a success stand for a few seconds: the next probe in that time answers without asking the database", async () => {
    const own = await useWorkerTestDatabase();
    expect((await call("/health", { DATABASE_URL: own.url })).status).toBe(200);
    // The database is gone now; within PING_FRESH_MS the probe still answers from the last success.
    await own.drop();
    expect((await call("/health", { DATABASE_URL: own.url })).status).toBe(200);
  });

  it("answers 503 within 3 seconds when the database takes the probe and never answers", async () => {
    const started = Date.now();
    const res = await call("/health", { LOCAL_DB_PROXY: env.TEST_SILENT_DB_PROXY });
    expect([res.status, Date.now() - started < 3_000]).toEqual([503, true]);
  });

  it("answers 503 in the error shape within 3 seconds when the database is unreachable", async () => {
    const started = Date.now();
    const res = await call("/health", { LOCAL_DB_PROXY: UNREACHABLE_PROXY });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    const body = (await res.json()) as { error: { code: string; message: string; request_id: string } };
    expect(body).toEqual({
      error: {
        code: "service_unavailable",
        message: "database unavailable",
        request_id: res.headers.get("x-request-id"),
      },
    });
  });
});

describe("errors", () => {
  it("answers an unknown route with 404 in the JSON error shape", async () => {
    const res = await call("/nope");
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBe("not_found");
  });

  it("answers a known path with the wrong method with 405 and Allow", async () => {
    const res = await call("/health", {}, { method: "POST" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBe("method_not_allowed");
    const put = await call(
      `/admin/tenants`,
      {},
      {
        method: "PUT",
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
      },
    );
    expect([put.status, put.headers.get("allow")]).toEqual([405, "GET, POST"]);
  });

  it("answers a served method with a trailing slash 404 naming the path, not 405", async () => {
    const res = await call("/health/");
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({
      code: "not_found",
      message: expect.stringContaining("did you mean /health?"),
    });
    expect((await call("/health/", {}, { method: "POST" })).status).toBe(405);
    // HEAD is served wherever GET is, so it is told the same.
    expect((await call("/health/", {}, { method: "HEAD" })).status).toBe(404);
  });

  it("keeps a well-formed incoming request id", async () => {
    const res = await call("/nope", {}, { headers: { "x-request-id": "trace-1234567890" } });
    expect(res.headers.get("x-request-id")).toBe("trace-1234567890");
  });
});

describe("database sessions of the workers", () => {
  it("run with statement_timeout 30s and idle_in_transaction_session_timeout 60s", async () => {
    const rows = await db.query<{ st: string; idle: string }>(
      "SELECT current_setting('statement_timeout') AS st, current_setting('idle_in_transaction_session_timeout') AS idle",
    );
    expect(rows).toEqual([{ st: "30s", idle: "1min" }]);
  });
});
