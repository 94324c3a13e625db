import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { ErrorBody } from "../../common/errors";
import { TEST_JWT_SECRET } from "../../test-support/constants";
import { UNREACHABLE_PROXY, useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { loggedLines } from "../../test-support/logs";
import { signProjectKey, signToken, signWithJwks, unsignedToken } from "../../test-support/tokens";
import { verifyToken } from "../src/auth/jwt";
import worker from "../src/index";
import { tenantCacheFor } from "../src/tenancy/cache";

let db: WorkerTestDb;
const T = {
  acme: "a1000000-0000-4000-8000-000000000001",
  globex: "a1000000-0000-4000-8000-000000000002",
  dormant: "a1000000-0000-4000-8000-000000000003",
  tiers: "a1000000-0000-4000-8000-000000000004",
};
const U = {
  alice: "b1000000-0000-4000-8000-000000000001",
  bob: "b1000000-0000-4000-8000-000000000002",
  carol: "b1000000-0000-4000-8000-000000000003",
};

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name, domain, is_active) VALUES
      ('${T.acme}', 'acme', 'Acme', 'community.acme.test', true),
      ('${T.globex}', 'globex', 'Globex', null, true),
      ('${T.dormant}', 'dormant', 'Dormant', 'dormant.example.org', false),
      ('${T.tiers}', 'tiers', 'Tiers', null, true);
    INSERT INTO users (id, email) VALUES
      ('${U.alice}', 'alice@example.com'), ('${U.bob}', 'bob@example.com'), ('${U.carol}', 'carol@example.com');
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES
      ('${T.acme}', '${U.alice}', 'admin', true), ('${T.acme}', '${U.bob}', 'member', false);
  `);
});

async function call(url: string, headers: Record<string, string> = {}, overrides: Partial<typeof env> = {}) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(url, { headers }),
    { ...env, DATABASE_URL: db.url, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

type Body = { tenant: { slug: string }; user: { id: string; email: string; role: string } | null };

async function expectError(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as ErrorBody;
  expect(body).toEqual({
    error: { code, message: expect.any(String), request_id: res.headers.get("x-request-id") },
  });
  // An error is about this request: no cache on the way may answer another with it.
  expect(res.headers.get("cache-control")).toBe("no-store");
}

describe("tenant resolution", () => {
  it("takes the tenant from a subdomain of PLATFORM_DOMAIN (its first label), written with its root dot or without", async () => {
    for (const url of [
      "http://acme.localhost:8787/v1/context",
      "http://acme.localhost.:8787/v1/context",
      "http://acme.eu.localhost/v1/context",
    ]) {
      const res = await call(url);
      expect([url, res.status, ((await res.json()) as Body).tenant.slug]).toEqual([url, 200, "acme"]);
    }
    // A domain is a domain in any case, in the config too.
    const configured = await call("http://acme.localhost/v1/context", {}, { PLATFORM_DOMAIN: "LocalHost" });
    expect([configured.status, ((await configured.json()) as Body).tenant.slug]).toEqual([200, "acme"]);
  });

  it("takes the tenant from a custom domain, case-insensitively, ignoring the port and a root dot", async () => {
    for (const url of [
      "http://Community.ACME.test:8443/v1/context",
      "http://community.acme.test./v1/context",
    ]) {
      const res = await call(url);
      expect([url, ((await res.json()) as Body).tenant.slug]).toEqual([url, "acme"]);
    }
  });

  it("prefers X-Tenant, then ?tenant=, over the host", async () => {
    const header = await call("http://acme.localhost/v1/context?tenant=acme", { "X-Tenant": "globex" });
    expect(((await header.json()) as Body).tenant.slug).toBe("globex");
    const query = await call("http://acme.localhost/v1/context?tenant=%20Globex%20");
    expect(((await query.json()) as Body).tenant.slug).toBe("globex");
  });

  it("refuses reserved labels, hosts that name no tenant and hosts with an empty label with tenant_required", async () => {
    for (const [url, headers] of [
      ["http://www.localhost/v1/context", {}],
      ["http://localhost/v1/context", {}],
      ["http://127.0.0.1/v1/context", {}],
      ["http://acme.localhost/v1/context", { "X-Tenant": "" }],
      ["http://acme..localhost/v1/context", {}],
      ["http://community..acme.test/v1/context", {}],
      ["http://intranet/v1/context", {}], // one label: no domain of anyone's
    ] as const) {
      const res = await call(url, headers);
      expect([url, res.status]).toEqual([url, 400]); // names the case that failed
      await expectError(res, 400, "tenant_required");
    }
  });

  it("refuses a bare platform domain that has dots of its own, and reserves the default labels when RESERVED_SUBDOMAINS lists none", async () => {
    const vars = { PLATFORM_DOMAIN: "communities.test", RESERVED_SUBDOMAINS: " , " };
    for (const url of [
      "http://communities.test/v1/context",
      "http://www.communities.test/v1/context",
      "http://admin.communities.test/v1/context",
    ]) {
      const res = await call(url, {}, vars);
      expect([url, res.status]).toEqual([url, 400]); // names the case that failed
      await expectError(res, 400, "tenant_required");
    }
    expect((await call("http://acme.communities.test/v1/context", {}, vars)).status).toBe(200);
  });

  it("reads a PLATFORM_DOMAIN written as a URL, or with a port, as the host it names, and says so once", async () => {
    const vars = { PLATFORM_DOMAIN: "https://Communities.test:443/" };
    const warn = vi.spyOn(console, "warn");
    try {
      for (let i = 0; i < 2; i++) {
        expect((await call("http://acme.communities.test/v1/context", {}, vars)).status).toBe(200);
      }
      await expectError(await call("http://communities.test/v1/context", {}, vars), 400, "tenant_required");
      expect(
        loggedLines(warn)
          .filter((l) => l.msg === "var not understood")
          .map((l) => [l.var, l.value, l.used]),
      ).toEqual([["PLATFORM_DOMAIN", "https://Communities.test:443/", "communities.test"]]);
    } finally {
      warn.mockRestore();
    }
  });

  it("reserves just the labels RESERVED_SUBDOMAINS lists, in any case and spacing, and follows the list when it changes", async () => {
    const own = { RESERVED_SUBDOMAINS: " Status,docs " };
    for (const [url, headers] of [
      ["http://status.localhost/v1/context", {}],
      ["http://x.localhost/v1/context", { "X-Tenant": "DOCS" }],
    ] as const) {
      const res = await call(url, headers, own);
      expect([url, res.status]).toEqual([url, 400]); // names the case that failed
      await expectError(res, 400, "tenant_required");
    }
    // A default label the list leaves out names a tenant like any other; there is none here.
    await expectError(await call("http://www.localhost/v1/context", {}, own), 404, "tenant_not_found");
    await expectError(await call("http://www.localhost/v1/context"), 400, "tenant_required");
    expect((await call("http://status.localhost/v1/context")).status).toBe(404);
  });

  it("refuses a slug that is not a DNS label, or a tenant named twice over, with invalid_tenant", async () => {
    for (const [url, headers] of [
      ["http://x.localhost/v1/context?tenant=bad_slug!", {}],
      [`http://x.localhost/v1/context?tenant=${"a".repeat(64)}`, {}],
      ["http://x.localhost/v1/context?tenant=acme&tenant=globex", {}],
      ["http://x.localhost/v1/context?tenant=acme&tenant=acme", {}],
      ["http://x.localhost/v1/context", { "X-Tenant": "acme, globex" }],
    ] as const) {
      const res = await call(url, headers);
      expect([url, res.status]).toEqual([url, 400]); // names the case that failed
      await expectError(res, 400, "invalid_tenant");
    }
  });

  it("answers unknown and inactive tenants alike with tenant_not_found", async () => {
    await expectError(await call("http://nobody.localhost/v1/context"), 404, "tenant_not_found");
    await expectError(await call("http://dormant.localhost/v1/context"), 404, "tenant_not_found");
    await expectError(await call("http://dormant.example.org/v1/context"), 404, "tenant_not_found");
  });

  it("names the cache tier that answered in Server-Timing and, with the tenant, in the request's line: database, then L1, then KV once L1 is empty", async () => {
    const lines = vi.spyOn(console, "log");
    const tier = async () => {
      const res = await call("http://tiers.localhost/v1/context");
      expect(res.status).toBe(200);
      const timing = /tenant;desc=(\w+)/.exec(res.headers.get("server-timing") ?? "")?.[1];
      const logged = loggedLines(lines).findLast((l) => l.msg === "request");
      expect(logged).toMatchObject({ tenant: "tiers", tier: timing });
      return timing;
    };
    try {
      expect(await tier()).toBe("db");
      expect(await tier()).toBe("l1");
      tenantCacheFor(env).l1.clear(); // as a new isolate would start
      expect(await tier()).toBe("kv");
    } finally {
      lines.mockRestore();
    }
  });

  it("answers 503 within 3 s when the database takes the lookup and never answers, and nothing is cached", async () => {
    const started = Date.now();
    const res = await call(
      "http://hung.localhost/v1/context",
      {},
      { LOCAL_DB_PROXY: env.TEST_SILENT_DB_PROXY },
    );
    await expectError(res, 503, "service_unavailable");
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("answers 503 with Retry-After, quickly, when the database is down and nothing is cached", async () => {
    const started = Date.now();
    const res = await call("http://uncached.localhost/v1/context", {}, { LOCAL_DB_PROXY: UNREACHABLE_PROXY });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.headers.get("retry-after")).toBe("5");
    await expectError(res, 503, "service_unavailable");
  });

  it("logs why it answered 503 in the request's line, with the database URL's password left out of every line", async () => {
    const lines = vi.spyOn(console, "log");
    const others = [vi.spyOn(console, "warn"), vi.spyOn(console, "error")];
    try {
      // Not a URL (the space), so the driver quotes it whole in its error.
      const res = await call(
        "http://misconfigured.localhost/v1/context",
        {},
        { DATABASE_URL: "postgres://app:hunter2@db host/communities" },
      );
      await expectError(res, 503, "service_unavailable");
      const line = loggedLines(lines).find((l) => l.msg === "request");
      expect(line).toMatchObject({
        status: 503,
        error_code: "service_unavailable",
        error_detail: expect.stringMatching(/^unavailable: .*not a valid URL/),
      });
      const everyLine = [lines, ...others].flatMap((spy) => spy.mock.calls.map((args) => args.join(" ")));
      expect(everyLine.join("\n")).not.toContain("hunter2");
    } finally {
      for (const spy of [lines, ...others]) spy.mockRestore();
    }
  });

  it("names the error code and message of every error answer in the request's line", async () => {
    const lines = vi.spyOn(console, "log");
    try {
      await expectError(await call("http://x.localhost/v1/context?tenant=bad_slug!"), 400, "invalid_tenant");
      const line = loggedLines(lines).at(-1);
      expect(line).toMatchObject({
        msg: "request",
        status: 400,
        error_code: "invalid_tenant",
        error_message: "the tenant name is not a valid DNS label",
      });
      expect(line).not.toHaveProperty("error_detail");
    } finally {
      lines.mockRestore();
    }
  });

  it("answers 500, not a 503 to retry, when the database refuses the statement, and logs its SQLSTATE", async () => {
    // A database without our tables (the server's admin database): the lookup's statement fails.
    const logged = vi.spyOn(console, "error");
    try {
      const res = await call(
        "http://refused.localhost/v1/context",
        {},
        { DATABASE_URL: env.TEST_ADMIN_DATABASE_URL },
      );
      await expectError(res, 500, "internal_error");
      const lines = loggedLines(logged);
      expect(lines).toContainEqual(
        expect.objectContaining({
          msg: "database refused a statement",
          code: "42P01",
          request_id: res.headers.get("x-request-id"),
          // Postgres' reason alone: drizzle's wrapper quotes the statement and its parameters,
          // which are user data in most statements (emails, post text).
          error_message: 'relation "tenants" does not exist',
        }),
      );
    } finally {
      logged.mockRestore();
    }
  });
});

describe("GET /v1/context", () => {
  it("answers anonymous callers with user null and a public 60 s cache", async () => {
    const res = await call("http://acme.localhost/v1/context");
    expect(res.headers.get("cache-control")).toBe("public, max-age=60");
    // A shared cache must not serve this answer to the same URL with X-Tenant naming another
    // community, nor to a caller with a token.
    const vary = (res.headers.get("vary") ?? "").split(",").map((v) => v.trim().toLowerCase());
    expect(vary).toEqual(expect.arrayContaining(["authorization", "x-tenant"]));
    expect(await res.json()).toEqual({
      tenant: {
        id: T.acme,
        slug: "acme",
        name: "Acme",
        logo_url: null,
        primary_color: null,
        secondary_color: null,
        domain: "community.acme.test",
        settings: {},
      },
      user: null,
    });
  });

  it("answers a member with their role, privately", async () => {
    const token = await signToken({ sub: U.alice, email: "alice@example.com" });
    const res = await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("private, no-store");
    expect(((await res.json()) as Body).user).toEqual({
      id: U.alice,
      email: "alice@example.com",
      role: "admin",
      is_admin: true,
    });
  });

  it("reads a token's sub in any case as the same user", async () => {
    const token = await signToken({ sub: U.alice.toUpperCase() });
    const res = await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${token}` });
    expect(((await res.json()) as Body).user).toMatchObject({ id: U.alice, role: "admin" });
  });

  it("keeps a membership in KV for 300 s at most, and a 'not a member' too, so the next request asks no database", async () => {
    for (const [user, member] of [
      [U.alice, true],
      [U.carol, false],
    ] as const) {
      const token = await signToken({ sub: user });
      await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${token}` });
      const { keys } = await env.TENANT_CACHE.list({ prefix: `member:v1:${T.acme}:${user}` });
      const secondsLeft = (keys[0]?.expiration ?? 0) - Date.now() / 1000;
      expect([member, secondsLeft > 0 && secondsLeft <= 300]).toEqual([member, true]);
      const again = await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${token}` });
      // Server-Timing has a db entry whenever the request asked the database.
      const timing = again.headers.get("server-timing") ?? "";
      expect([member, timing.startsWith("total;"), timing.includes("db;")]).toEqual([member, true, false]);
    }
  });

  it("keeps a membership in the isolate too: a repeat request reads it from neither KV nor the database", async () => {
    const memberReads: string[] = [];
    const kv = new Proxy(env.TENANT_CACHE, {
      get(target, prop) {
        if (prop === "get") {
          return (key: string, type: "json") => {
            if (key.startsWith("member:")) memberReads.push(key);
            return target.get(key, type);
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    // Dave has never been asked about: one user loaded from the database, one whose entry
    // another isolate left in KV (a member by that entry only).
    const dave = "b1000000-0000-4000-8000-00000000000d";
    await env.TENANT_CACHE.put(
      `member:v1:${T.acme}:${dave}`,
      JSON.stringify({ member: { role: "member", is_admin: false, email: "dave@example.com" } }),
    );
    await db.query(`INSERT INTO users (id, email) VALUES ('b1000000-0000-4000-8000-00000000000e', 'erin@example.com');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${T.acme}', 'b1000000-0000-4000-8000-00000000000e')`);
    for (const [user, email] of [
      [dave, "dave@example.com"],
      ["b1000000-0000-4000-8000-00000000000e", "erin@example.com"],
    ] as const) {
      const token = await signToken({ sub: user });
      const asUser = () =>
        call("http://acme.localhost/v1/context", { Authorization: `Bearer ${token}` }, { TENANT_CACHE: kv });
      const first = await asUser();
      expect(((await first.json()) as Body).user).toMatchObject({ id: user, email });
      memberReads.length = 0;
      const again = await asUser();
      expect(((await again.json()) as Body).user).toMatchObject({ id: user, email });
      expect([user, memberReads, again.headers.get("server-timing")?.includes("db;")]).toEqual([
        user,
        [],
        false,
      ]);
    }
  });

  it("answers a valid token of a non-member with user null, privately", async () => {
    const token = await signToken({ sub: U.carol });
    const res = await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${token}` });
    expect(res.headers.get("cache-control")).toBe("private, no-store");
    expect(((await res.json()) as Body).user).toBeNull();
  });

  it("never mixes up two users' data: memberships are cached by verified sub, not by token text", async () => {
    // The original cached user data under the token's last 10 characters.
    for (let round = 0; round < 2; round++) {
      const a = await signToken({ sub: U.alice });
      const b = await signToken({ sub: U.bob });
      const ra = (await (
        await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${a}` })
      ).json()) as Body;
      const rb = (await (
        await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${b}` })
      ).json()) as Body;
      expect(ra.user).toMatchObject({ id: U.alice, role: "admin" });
      expect(rb.user).toMatchObject({ id: U.bob, role: "member" });
    }
  });

  it("never takes a member of one community for a member of another: memberships are cached per community", async () => {
    // Alice administers acme, Bob is a member of it, and neither is in globex. Each is asked
    // about both, in both orders, so a cached answer (a membership, or a "not a member") is in
    // hand when the other community's is looked up.
    const cases = [
      { sub: U.alice, order: ["acme", "globex"], acme: { id: U.alice, role: "admin", is_admin: true } },
      { sub: U.bob, order: ["globex", "acme"], acme: { id: U.bob, role: "member", is_admin: false } },
    ];
    for (const { sub, order, acme } of cases) {
      const token = await signToken({ sub });
      for (let round = 0; round < 2; round++) {
        for (const slug of order) {
          const res = await call(`http://${slug}.localhost/v1/context`, { Authorization: `Bearer ${token}` });
          const { user } = (await res.json()) as Body;
          if (slug === "acme") expect(user, `${sub} in acme`).toMatchObject(acme);
          else expect(user, `${sub} in globex`).toBeNull();
        }
      }
    }
  });

  it.each([
    [
      "an expired token",
      async () => signToken({ sub: U.alice }, { expiresIn: Math.floor(Date.now() / 1000) - 60 }),
    ],
    [
      "a token signed with another key",
      async () => signToken({ sub: U.alice }, { secret: "another-secret-of-32-characters-or-more" }),
    ],
    [
      "a token without exp, which would never expire",
      async () => signToken({ sub: U.alice }, { expiresIn: null }),
    ],
    ["an unsigned alg:none token", async () => unsignedToken(U.alice)],
    ["a token whose sub is not a UUID", async () => signToken({ sub: "alice" })],
    ["a malformed token", async () => "not.a.jwt"],
  ])("refuses %s with 401 invalid_token, never as anonymous", async (_name, make) => {
    const res = await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${await make()}` });
    await expectError(res, 401, "invalid_token");
    expect(res.headers.get("WWW-Authenticate")).toBe('Bearer error="invalid_token"');
  });

  it("answers Supabase's anon key (signed, no user) as anonymous, and refuses a forged one", async () => {
    const res = await call("http://acme.localhost/v1/context", {
      Authorization: `Bearer ${await signProjectKey()}`,
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Body).user).toBeNull();
    const forged = await signProjectKey("anon", { secret: "another-secret-of-32-characters-or-more" });
    await expectError(
      await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${forged}` }),
      401,
      "invalid_token",
    );
  });

  it("tells a client that sent `Bearer undefined` (no token in hand) what it did, still 401", async () => {
    for (const sent of ["undefined", "null"]) {
      const res = await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${sent}` });
      expect([sent, res.status, ((await res.json()) as ErrorBody).error]).toMatchObject([
        sent,
        401,
        { code: "invalid_token", message: expect.stringContaining(`the bearer token is "${sent}"`) },
      ]);
    }
  });

  it("takes the bearer scheme in any case, as HTTP's auth schemes are", async () => {
    const token = await signToken({ sub: U.bob });
    for (const scheme of ["bearer", "BEARER"]) {
      const res = await call("http://acme.localhost/v1/context", { Authorization: `${scheme} ${token}` });
      expect([scheme, res.status, ((await res.json()) as Body).user?.id]).toEqual([scheme, 200, U.bob]);
    }
  });

  it("tells a client whose token has expired so, rather than only that it is not valid", async () => {
    const expired = await signToken({ sub: U.alice }, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    const res = await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${expired}` });
    expect([res.status, ((await res.json()) as ErrorBody).error.message]).toEqual([
      401,
      "the token has expired",
    ]);
  });

  it("answers Supabase's publishable key (the anon key's successor: no JWT, no user) as anonymous, publicly cacheable", async () => {
    // As supabase-js sends it when nobody is signed in: `Bearer ${session?.access_token ?? key}`.
    const res = await call("http://acme.localhost/v1/context", {
      Authorization: "Bearer sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH",
    });
    expect([res.status, ((await res.json()) as Body).user]).toEqual([200, null]);
    expect(res.headers.get("Cache-Control")).toBe("public, max-age=60");
    // Only a key's whole shape: a token that merely starts like one is checked as a token.
    await expectError(
      await call("http://acme.localhost/v1/context", { Authorization: "Bearer sb_publishable_" }),
      401,
      "invalid_token",
    );
  });

  it.each([
    ["service-role key (signed, no user)", async () => signProjectKey("service_role")],
    ["secret key", async () => "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"],
  ])(
    "refuses Supabase's %s with 401 saying it names no user: only the client keys stand for nobody",
    async (_name, key) => {
      const res = await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${await key()}` });
      expect([res.status, ((await res.json()) as ErrorBody).error]).toMatchObject([
        401,
        { code: "invalid_token", message: expect.stringContaining("names no user") },
      ]);
    },
  );

  it("takes a token from an issuer whose clock runs a few seconds ahead, not one a minute ahead", async () => {
    const startingIn = (seconds: number) =>
      signToken({ sub: U.bob }, { notBefore: Math.floor(Date.now() / 1000) + seconds });
    const ahead = await call("http://acme.localhost/v1/context", {
      Authorization: `Bearer ${await startingIn(3)}`,
    });
    expect(ahead.status).toBe(200);
    await expectError(
      await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${await startingIn(60)}` }),
      401,
      "invalid_token",
    );
  });

  it("refuses an Authorization header that is not a bearer token", async () => {
    await expectError(
      await call("http://acme.localhost/v1/context", { Authorization: "Basic abc" }),
      401,
      "invalid_token",
    );
  });
});

describe("tokens verified against a JWKS (AUTH_JWKS_URL)", () => {
  const jwksEnv = () => ({ AUTH_JWKS_URL: env.TEST_JWKS_URL, AUTH_JWT_SECRET: "" });

  it.each(["RS256", "ES256"] as const)("accepts a %s token from the key set", async (alg) => {
    const token = await signWithJwks(alg, { sub: U.alice });
    const res = await call(
      "http://acme.localhost/v1/context",
      { Authorization: `Bearer ${token}` },
      jwksEnv(),
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as Body).user?.id).toBe(U.alice);
  });

  it("refuses an HS256 token when a key set is configured (no algorithm confusion)", async () => {
    const token = await signToken({ sub: U.alice });
    await expectError(
      await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${token}` }, jwksEnv()),
      401,
      "invalid_token",
    );
  });

  it("takes both the legacy secret's HS256 tokens and the key set's tokens when both are configured", async () => {
    const both = { AUTH_JWKS_URL: env.TEST_JWKS_URL, AUTH_JWT_SECRET: TEST_JWT_SECRET };
    const context = (token: string) =>
      call("http://acme.localhost/v1/context", { Authorization: `Bearer ${token}` }, both);
    for (const token of [await signToken({ sub: U.alice }), await signWithJwks("ES256", { sub: U.alice })]) {
      const res = await context(token);
      expect(res.status).toBe(200);
      expect(((await res.json()) as Body).user?.id).toBe(U.alice);
    }
    const forged = await signToken({ sub: U.alice }, { secret: "another-secret-of-32-characters-or-more" });
    await expectError(await context(forged), 401, "invalid_token");
    await expectError(await context(unsignedToken(U.alice)), 401, "invalid_token");
    await expectError(await context("not.a.jwt"), 401, "invalid_token");
  });

  it("answers 503 at once, not waiting on the provider again, for a few seconds after its key set could not be fetched", async () => {
    const hanging = {
      AUTH_JWKS_URL: env.TEST_JWKS_URL.replace("/.well-known/", "/hanging/.well-known/"),
      AUTH_JWT_SECRET: "",
    };
    const token = await signWithJwks("ES256", { sub: U.alice });
    const timed = async () => {
      const started = Date.now();
      const res = await call(
        "http://acme.localhost/v1/context",
        { Authorization: `Bearer ${token}` },
        hanging,
      );
      await expectError(res, 503, "service_unavailable");
      return Date.now() - started;
    };
    // The first request waits out the fetch's 3 s timeout, no longer; the next is told at once.
    const first = await timed();
    expect(first).toBeGreaterThanOrEqual(2_500);
    expect(first).toBeLessThan(4_500);
    expect(await timed()).toBeLessThan(1_000);
  });

  /** A provider with a history of its own (test/setup/jwks.ts), and the key set cache's clock. */
  const scriptedProvider = (kind: "rotating" | "revoking" | "failing" | "stalling" | "erroring") => {
    let now = Date.now();
    const url = env.TEST_JWKS_URL.replace("/.well-known/", `/${kind}/${crypto.randomUUID()}/.well-known/`);
    /** What the requests left running, as a request's waitUntil keeps it. */
    const background: Promise<unknown>[] = [];
    return {
      verify: (token: string, inRequest = false) =>
        verifyToken(
          token,
          { AUTH_JWKS_URL: url },
          { now: () => now, waitUntil: inRequest ? (p) => background.push(p) : undefined },
        ),
      advance: (ms: number) => {
        now += ms;
      },
      background,
    };
  };
  const timed = async <T>(work: Promise<T>) => {
    const started = Date.now();
    const value = await work;
    return { value, ms: Date.now() - started };
  };
  const alice = { ok: true, value: { id: U.alice } };

  it("takes a key the provider added (a rotation) once its key set may be fetched again, at most every 30 s", async () => {
    const provider = scriptedProvider("rotating");
    expect(await provider.verify(await signWithJwks("RS256", { sub: U.alice }))).toEqual(alice);
    const signedWithNewKey = await signWithJwks("ES256", { sub: U.alice });
    provider.advance(1_000);
    expect(await provider.verify(signedWithNewKey)).toEqual({ ok: false, error: "invalid" });
    provider.advance(30_000);
    expect(await provider.verify(signedWithNewKey)).toEqual(alice);
  });

  it("stops taking a key the provider revoked once the key set in hand is 10 minutes old", async () => {
    const provider = scriptedProvider("revoking");
    const token = await signWithJwks("ES256", { sub: U.alice });
    expect(await provider.verify(token)).toEqual(alice);
    provider.advance(9 * 60_000);
    expect(await provider.verify(token)).toEqual(alice);
    provider.advance(60_000 + 1);
    expect(await provider.verify(token)).toEqual({ ok: false, error: "invalid" });
  });

  it("refreshes a key set 5 minutes old in the background, verifying with the one in hand meanwhile: a revoked key is refused once the new set is in", async () => {
    const provider = scriptedProvider("revoking");
    const token = await signWithJwks("ES256", { sub: U.alice });
    expect(await provider.verify(token, true)).toEqual(alice);
    provider.advance(4 * 60_000);
    expect([await provider.verify(token, true), provider.background.length]).toEqual([alice, 0]);
    provider.advance(2 * 60_000);
    expect([await provider.verify(token, true), provider.background.length]).toEqual([alice, 1]);
    await Promise.all(provider.background);
    expect(await provider.verify(token, true)).toEqual({ ok: false, error: "invalid" });
  });

  it("keeps requests from waiting on a provider that hangs while a key set is in hand: one refresh at a time, in the background or for the one request that must fetch it", async () => {
    const provider = scriptedProvider("stalling");
    const token = await signWithJwks("ES256", { sub: U.alice });
    expect(await provider.verify(token, true)).toEqual(alice);
    provider.advance(6 * 60_000);
    // Served at once; the refresh hangs in the background until its 3 s timeout.
    const soft = await timed(provider.verify(token, true));
    expect([soft.value, soft.ms < 1_000, provider.background.length]).toEqual([alice, true, 1]);
    // Past 10 minutes, with that fetch still running: no second fetch, no wait.
    provider.advance(5 * 60_000);
    const hard = await timed(provider.verify(token));
    expect([hard.value, hard.ms < 1_000]).toEqual([alice, true]);
    await Promise.all(provider.background);
    // The failed fetch is not tried again for a few seconds: still no wait.
    const after = await timed(provider.verify(token));
    expect([after.value, after.ms < 1_000]).toEqual([alice, true]);
  });

  it("takes no key set from a provider's error answer, even one shaped like a key set: the provider is unavailable, the token not invalid", async () => {
    const provider = scriptedProvider("erroring");
    expect(await provider.verify(await signWithJwks("ES256", { sub: U.alice }))).toEqual({
      ok: false,
      error: "unavailable",
    });
  });

  it("keeps verifying with the key set in hand while the provider is down", async () => {
    const provider = scriptedProvider("failing");
    const token = await signWithJwks("ES256", { sub: U.alice });
    expect(await provider.verify(token)).toEqual(alice);
    // Past the key set's 10 minutes: it is fetched again, and the provider answers 503.
    provider.advance(10 * 60_000 + 1);
    expect(await provider.verify(token)).toEqual(alice);
  });

  it("checks iss and aud when they are configured", async () => {
    const strict = { ...jwksEnv(), AUTH_ISSUER: "https://id.example.test", AUTH_AUDIENCE: "communities" };
    const good = await signWithJwks("ES256", {
      sub: U.alice,
      iss: "https://id.example.test",
      aud: "communities",
    });
    expect(
      (await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${good}` }, strict)).status,
    ).toBe(200);
    const wrongAud = await signWithJwks("ES256", {
      sub: U.alice,
      iss: "https://id.example.test",
      aud: "other-app",
    });
    await expectError(
      await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${wrongAud}` }, strict),
      401,
      "invalid_token",
    );
    const noIss = await signWithJwks("ES256", { sub: U.alice, aud: "communities" });
    await expectError(
      await call("http://acme.localhost/v1/context", { Authorization: `Bearer ${noIss}` }, strict),
      401,
      "invalid_token",
    );
  });
});
