import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { ErrorBody } from "../../common/errors";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { loggedLines } from "../../test-support/logs";
import { signToken } from "../../test-support/tokens";
import worker from "../src/index";
import { parseOrigins } from "../src/middleware/cors";

let db: WorkerTestDb;
const ACME = "a2000000-0000-4000-8000-000000000001";
const ALICE = "b2000000-0000-4000-8000-000000000001";

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${ACME}', 'acme', 'Acme');
    INSERT INTO users (id, email) VALUES ('${ALICE}', 'alice@example.com');
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES ('${ACME}', '${ALICE}', 'member', false);
  `);
});

async function call(path: string, init: RequestInit = {}, overrides: Partial<typeof env> = {}) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://api.localhost${path}`, init),
    { ...env, DATABASE_URL: db.url, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const preflight = (
  origin: string,
  method = "GET",
  asked = "authorization,x-tenant,content-type,idempotency-key",
) => ({
  method: "OPTIONS",
  headers: { origin, "access-control-request-method": method, "access-control-request-headers": asked },
});

describe("CORS preflight", () => {
  it("is answered 204 before tenant resolution and authentication, which it carries no headers for", async () => {
    const res = await call("/v1/context", preflight("https://app.example.com"));
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toContain("GET");
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    for (const h of ["authorization", "x-tenant", "content-type", "idempotency-key"])
      expect(allowed).toContain(h);
    expect(res.headers.get("access-control-max-age")).toBe("7200");
    // Cached for two hours: a cache must not hand this origin's answer to another.
    expect(res.headers.get("vary")).toContain("Origin");
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("allows the headers a page's libraries add (tracing, supabase-js), which a fixed list would fail every call for", async () => {
    const asked = "authorization,baggage,sentry-trace,traceparent,apikey,x-client-info";
    const res = await call("/v1/context", preflight("https://app.example.com", "GET", asked));
    expect(res.status).toBe(204);
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/\s*,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(asked.split(",")));
    expect(res.headers.get("vary")).toBe("Origin, Access-Control-Request-Headers");
  });

  it("echoes no requested list that is not header names: the fixed list answers it", async () => {
    for (const asked of ["x-a, bad header", "x-a;x-b", "x-a,", "x-a/b", `x-${"a".repeat(2048)}`]) {
      const res = await call("/v1/context", preflight("https://app.example.com", "GET", asked));
      expect([asked, res.headers.get("access-control-allow-headers")]).toEqual([
        asked,
        "Authorization, Content-Type, Idempotency-Key, X-Request-Id, X-Tenant",
      ]);
    }
  });

  it("covers the write routes, past their rate limit and body checks", async () => {
    const res = await call("/v1/jobs/batch", preflight("https://app.example.com", "POST"));
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
  });

  it("allows every method the public API documents, so a page's PUT, PATCH or DELETE is not stopped at its preflight", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const served = Object.entries(doc.paths)
      .filter(([path]) => !path.startsWith("/admin") && !path.startsWith("/hooks"))
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => [m.toUpperCase(), path] as const));
    expect(served.map(([m]) => m)).toEqual(expect.arrayContaining(["GET", "POST", "PUT", "PATCH", "DELETE"]));
    for (const [method, path] of served) {
      const res = await call(path.replace(/\{\w+\}/g, ACME), preflight("https://app.example.com", method));
      const allowed = (res.headers.get("access-control-allow-methods") ?? "").split(/\s*,\s*/);
      expect([method, path, res.status, allowed.includes(method)]).toEqual([method, path, 204, true]);
    }
  });

  it("is refused for origins outside CORS_ORIGINS: no Allow-Origin, so the browser stops there", async () => {
    const res = await call("/v1/context", preflight("https://evil.example.net"), {
      CORS_ORIGINS: "https://app.example.com",
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS on answers", () => {
  it("lets a page read the tenant context and the request id", async () => {
    const res = await call("/v1/context", {
      headers: { origin: "https://app.example.com", "x-tenant": "acme" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-expose-headers")).toContain("X-Request-Id");
    expect(res.headers.get("vary")).toContain("Origin");
  });

  it("lets a page read an error, WWW-Authenticate included", async () => {
    const res = await call("/v1/context", {
      headers: { origin: "https://app.example.com", "x-tenant": "acme", authorization: "Bearer not.a.token" },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-expose-headers")).toContain("WWW-Authenticate");
    expect(((await res.json()) as ErrorBody).error.code).toBe("invalid_token");
  });

  it("echoes an allowed origin of a list, and says the answer varies by Origin", async () => {
    const token = await signToken({ sub: ALICE });
    const res = await call(
      "/v1/context",
      {
        headers: { origin: "https://acme.example.com", "x-tenant": "acme", authorization: `Bearer ${token}` },
      },
      { CORS_ORIGINS: "https://app.example.com, https://*.example.com" },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://acme.example.com");
    expect(res.headers.get("vary")).toContain("Origin");
  });

  it("adds nothing but Vary for a request without Origin (servers, mobile apps)", async () => {
    const res = await call("/health");
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("vary")).toContain("Origin");
  });

  it("is never given by the admin API, preflight or not", async () => {
    const pre = await call("/admin/tenants", preflight("https://app.example.com", "POST"));
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    const res = await call("/admin/tenants", {
      method: "POST",
      headers: { origin: "https://app.example.com", authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS_ORIGINS", () => {
  it("allows any origin when unset or *", () => {
    expect(parseOrigins(undefined)("https://x.test")).toBe("*");
    expect(parseOrigins("https://a.test, *")("https://x.test")).toBe("*");
  });

  it("matches listed origins exactly, case-insensitively, ignoring a trailing slash in the list", () => {
    const rule = parseOrigins("https://App.Example.com/, http://localhost:5173");
    expect(rule("https://APP.example.com")).toBe("https://APP.example.com");
    expect(rule("https://app.example.com")).toBe("https://app.example.com");
    expect(rule("http://localhost:5173")).toBe("http://localhost:5173");
    expect(rule("http://app.example.com")).toBeNull();
    expect(rule("http://localhost:5174")).toBeNull();
    expect(rule("https://app.example.com.evil.net")).toBeNull();
  });

  it("matches *. entries on subdomains only, with the same scheme and port", () => {
    const rule = parseOrigins("https://*.example.com");
    expect(rule("https://acme.example.com")).toBe("https://acme.example.com");
    expect(rule("https://a.b.example.com")).toBe("https://a.b.example.com");
    expect(rule("https://example.com")).toBeNull();
    expect(rule("http://acme.example.com")).toBeNull();
    expect(rule("https://acme.example.com:8443")).toBeNull();
    expect(rule("https://evil.net/.example.com")).toBeNull();
    expect(rule("https://evilexample.com")).toBeNull();
  });

  it("allows no origin when empty", () => {
    expect(parseOrigins("")("https://app.example.com")).toBeNull();
  });

  it("says which entries are no origin, since a page they were meant for fails on CORS unseen here", () => {
    const warn = vi.spyOn(console, "warn");
    try {
      const rule = parseOrigins(
        "app.example.org, https://app.example.org/login, https://ok.example.com, http://localhost:5173, https://*.example.com, http://[::1]:8080, null,",
      );
      expect(rule("https://ok.example.com")).toBe("https://ok.example.com");
      expect(rule("https://app.example.org")).toBeNull();
      expect(loggedLines(warn)).toEqual([
        expect.objectContaining({
          msg: "CORS_ORIGINS entry is no origin; no page matches it",
          entry: "app.example.org",
        }),
        expect.objectContaining({ entry: "https://app.example.org/login" }),
      ]);
    } finally {
      warn.mockRestore();
    }
  });
});
