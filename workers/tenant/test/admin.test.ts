import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { ErrorBody } from "../../common/errors";
import { inSession, useWorkerTestDatabase, type WorkerTestDb, whileUncommitted } from "../../test-support/db";
import { loggedLines } from "../../test-support/logs";
import { lockWaitOf } from "../../test-support/postgres";
import { awaitRoomInRateLimitWindow } from "../../test-support/rate-limit";
import { signToken } from "../../test-support/tokens";
import { membershipKey } from "../src/auth/membership";
import worker, { createApp } from "../src/index";

let db: WorkerTestDb;
const USER = "b2000000-0000-4000-8000-000000000001";
/** Admin routes are rate-limited per client IP: this file gets an address of its own. */
const CLIENT_IP = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`INSERT INTO users (id, email) VALUES ('${USER}', 'dana@example.com')`);
});

/** Membership changes delete their KV entry again this much later; the default 5 s would slow every test. */
const REDELETE_SECONDS = "0.05";

/**
 * `beforeBackground` runs once the response is in, before the request's background work (a
 * membership change's second delete) is awaited.
 */
async function call(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  beforeBackground?: () => Promise<unknown>,
) {
  const ctx = createExecutionContext();
  const init: RequestInit = {
    method,
    // A request without a body has no Content-Type, as a client sends a DELETE.
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  };
  const res = await worker.fetch(
    new Request(url, init),
    { ...env, DATABASE_URL: db.url, MEMBERSHIP_REDELETE_SECONDS: REDELETE_SECONDS },
    ctx,
  );
  await beforeBackground?.();
  await waitOnExecutionContext(ctx);
  return res;
}

const admin = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  call(method, `http://api.localhost/admin${path}`, body, {
    authorization: `Bearer ${env.ADMIN_TOKEN}`,
    "cf-connecting-ip": CLIENT_IP,
    ...headers,
  });
const context = async (slugOrHost: string, token?: string) => {
  const url = slugOrHost.includes(".")
    ? `http://${slugOrHost}/v1/context`
    : `http://${slugOrHost}.localhost/v1/context`;
  return call("GET", url, undefined, token ? { authorization: `Bearer ${token}` } : {});
};

async function code(res: Response) {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

describe("admin API", () => {
  it("needs the admin token", async () => {
    expect(await code(await admin("POST", "/tenants", { slug: "x", name: "x" }, { authorization: "" }))).toBe(
      "unauthorized",
    );
    expect(
      await code(
        await admin("POST", "/tenants", { slug: "x", name: "x" }, { authorization: "Bearer wrong" }),
      ),
    ).toBe("forbidden");
    // The scheme is case-insensitive, as for users' tokens.
    const lower = await admin("GET", `/users/${USER}`, undefined, {
      authorization: `bearer ${env.ADMIN_TOKEN}`,
    });
    expect(lower.status).toBe(200);
  });

  it("says once an isolate that a short admin token or JWT secret is short, takes them still, and never logs them", async () => {
    const weak = { ADMIN_TOKEN: "change-me", AUTH_JWT_SECRET: "short-jwt-secret" };
    await db.query("INSERT INTO tenants (slug, name) VALUES ('short-secrets', 'Short secrets')");
    const warn = vi.spyOn(console, "warn");
    try {
      const token = await signToken({ sub: USER }, { secret: weak.AUTH_JWT_SECRET });
      for (let i = 0; i < 2; i++) {
        const ctx = createExecutionContext();
        const bindings = { ...env, DATABASE_URL: db.url, ...weak };
        const asAdmin = await worker.fetch(
          new Request(`http://api.localhost/admin/users/${USER}`, {
            // An address of its own: the admin tests here reach the per-address limit as it is.
            headers: {
              authorization: "Bearer change-me",
              "cf-connecting-ip": `198.51.100.${(Number(CLIENT_IP.split(".")[3]) % 250) + 4}`,
            },
          }),
          bindings,
          ctx,
        );
        const asUser = await worker.fetch(
          new Request("http://short-secrets.localhost/v1/context", {
            headers: { authorization: `Bearer ${token}` },
          }),
          bindings,
          ctx,
        );
        await waitOnExecutionContext(ctx);
        expect([asAdmin.status, asUser.status]).toEqual([200, 200]);
      }
      const said = loggedLines(warn).filter((l) => l.msg === "secret too short to resist guessing");
      expect(said.map((l) => [l.secret, l.length])).toEqual([
        ["admin token", 9],
        ["AUTH_JWT_SECRET", 16],
      ]);
      expect(JSON.stringify(loggedLines(warn))).not.toMatch(/change-me|short-jwt-secret/);
    } finally {
      warn.mockRestore();
    }
  });

  it("needs the admin token on a percent-encoded path too, which routes like the plain one", async () => {
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request(`http://api.localhost${path}`, {
          headers: { "cf-connecting-ip": CLIENT_IP, ...headers },
        }),
        { ...env, DATABASE_URL: db.url },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res;
    };
    for (const path of [
      "/%61dmin/tenants",
      "/admin/%74enants",
      "/%61dmin/users/b0000000-0000-4000-8000-000000000001",
    ]) {
      const res = await get(path);
      expect([path, res.status, await code(res)]).toEqual([path, 401, "unauthorized"]);
    }
    // With the token, the encoded path is the admin route itself.
    const listed = await get("/%61dmin/tenants?limit=1", { authorization: `Bearer ${env.ADMIN_TOKEN}` });
    expect([listed.status, Object.keys((await listed.json()) as object)]).toEqual([
      200,
      ["tenants", "next_cursor"],
    ]);
  });

  it("takes the previous token too while a rotation is under way, and only then", async () => {
    const read = async (token: string, previous?: string) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request("http://api.localhost/admin/tenants?limit=1", {
          headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": CLIENT_IP },
        }),
        { ...env, DATABASE_URL: db.url, ADMIN_TOKEN: "new-token", ADMIN_TOKEN_PREVIOUS: previous },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res.status;
    };
    expect([await read("new-token", "old-token"), await read("old-token", "old-token")]).toEqual([200, 200]);
    expect([await read("other-token", "old-token"), await read("old-token")]).toEqual([403, 403]);
    expect(await read("old-token", "")).toBe(403);
  });

  it("creates a tenant that resolves on the next request, and refuses a duplicate slug or domain with 409", async () => {
    // Asked for before it exists: "not found" is cached under both names.
    expect([(await context("newco")).status, (await context("forum.newco.test")).status]).toEqual([404, 404]);
    const created = await admin("POST", "/tenants", {
      slug: "newco",
      name: "NewCo",
      domain: "Forum.NewCo.test",
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      slug: "newco",
      domain: "forum.newco.test",
      is_active: true,
    });
    expect((await context("newco")).status).toBe(200);
    expect((await context("forum.newco.test")).status).toBe(200);
    const dupSlug = await admin("POST", "/tenants", { slug: "newco", name: "Other" });
    expect([dupSlug.status, await code(dupSlug)]).toEqual([409, "conflict"]);
    const dupDomain = await admin("POST", "/tenants", {
      slug: "other",
      name: "Other",
      domain: "forum.newco.test",
    });
    expect([dupDomain.status, await code(dupDomain)]).toEqual([409, "conflict"]);
  });

  it("makes slug and domain changes visible on the next request in the same isolate", async () => {
    const created = (await (
      await admin("POST", "/tenants", { slug: "before", name: "B", domain: "old.example.test" })
    ).json()) as { id: string };
    expect((await context("before")).status).toBe(200); // now cached in L1 and KV
    expect((await context("old.example.test")).status).toBe(200);
    const updated = await admin("PATCH", `/tenants/${created.id}`, {
      slug: "after",
      domain: "new.example.test",
    });
    expect(updated.status).toBe(200);
    expect((await context("before")).status).toBe(404);
    expect((await context("old.example.test")).status).toBe(404);
    expect((await context("after")).status).toBe(200);
    expect((await context("new.example.test")).status).toBe(200);
  });

  it("removes a custom domain and clears colors with null: the old domain stops resolving at once", async () => {
    const created = (await (
      await admin("POST", "/tenants", {
        slug: "unhosted",
        name: "U",
        domain: "leaving.example.test",
        primary_color: "#112233",
      })
    ).json()) as { id: string };
    expect((await context("leaving.example.test")).status).toBe(200); // now cached in L1 and KV
    const updated = await admin("PATCH", `/tenants/${created.id}`, { domain: null, primary_color: null });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ domain: null, primary_color: null });
    expect((await context("leaving.example.test")).status).toBe(404);
    const body = (await (await context("unhosted")).json()) as { tenant: Record<string, unknown> };
    expect(body.tenant).toMatchObject({ domain: null, primary_color: null });
  });

  it("refuses a change onto another tenant's slug or domain with a 409 that says which, changing nothing", async () => {
    expect(
      (await admin("POST", "/tenants", { slug: "taken", name: "Taken", domain: "taken.example.test" }))
        .status,
    ).toBe(201);
    const { id } = (await (await admin("POST", "/tenants", { slug: "mover", name: "Mover" })).json()) as {
      id: string;
    };
    const answer = async (res: Response) => [
      res.status,
      ((await res.json()) as { error: { message: string } }).error.message,
    ];
    expect(await answer(await admin("PATCH", `/tenants/${id}`, { slug: "taken" }))).toEqual([
      409,
      "another tenant already has this slug",
    ]);
    expect(await answer(await admin("PATCH", `/tenants/${id}`, { domain: "Taken.Example.Test" }))).toEqual([
      409,
      "another tenant already has this domain",
    ]);
    const mover = (await (await context("mover")).json()) as { tenant: { domain: string | null } };
    expect(mover.tenant.domain).toBeNull();
  });

  it("retires the name a tenant had just before a rename that waited on another admin's rename", async () => {
    const { id } = (await (
      await admin("POST", "/tenants", { slug: "first-name", name: "Twice" })
    ).json()) as {
      id: string;
    };
    await inSession(db, async (other) => {
      // Another rename, not yet committed, holds the row: the one below must read what it leaves.
      await other.query("BEGIN");
      await other.query("UPDATE tenants SET slug = 'second-name' WHERE id = $1", [id]);
      const renaming = admin("PATCH", `/tenants/${id}`, { slug: "third-name" });
      // Only once the admin write waits on the row does the other rename commit.
      expect(await lockWaitOf(db.query)).toBe("transactionid");
      await other.query("COMMIT");
      expect((await renaming).status).toBe(200);
    });
    // Any isolate that cached the second name in between finds it retired in KV.
    expect(await env.TENANT_CACHE.get("tenant:v1:slug:second-name", "json")).toMatchObject({ tenant: null });
    expect((await context("third-name")).status).toBe(200);
  });

  it("deactivates a tenant: it is not found on the next request", async () => {
    const created = (await (await admin("POST", "/tenants", { slug: "closing", name: "C" })).json()) as {
      id: string;
    };
    expect((await context("closing")).status).toBe(200);
    expect((await admin("DELETE", `/tenants/${created.id}`)).status).toBe(200);
    expect((await context("closing")).status).toBe(404);
  });

  it("adds, changes and removes members, and /v1/context follows at once; a removal leaves the user's other communities alone", async () => {
    const created = (await (await admin("POST", "/tenants", { slug: "club", name: "Club" })).json()) as {
      id: string;
    };
    const other = (await (
      await admin("POST", "/tenants", { slug: "club-two", name: "Club Two" })
    ).json()) as {
      id: string;
    };
    await admin("PUT", `/tenants/${other.id}/members/${USER}`, { role: "member", is_admin: false });
    const token = await signToken({ sub: USER });
    const userIn = async (slug: string) =>
      ((await (await context(slug, token)).json()) as { user: { role: string } | null }).user;
    const user = () => userIn("club");
    expect(await user()).toBeNull();
    expect(
      (await admin("PUT", `/tenants/${created.id}/members/${USER}`, { role: "member", is_admin: false }))
        .status,
    ).toBe(200);
    expect(await user()).toMatchObject({ role: "member" });
    await admin("PUT", `/tenants/${created.id}/members/${USER}`, { role: "moderator", is_admin: true });
    expect(await user()).toMatchObject({ role: "moderator", is_admin: true });
    expect((await admin("DELETE", `/tenants/${created.id}/members/${USER}`)).status).toBe(204);
    expect(await user()).toBeNull();
    expect(await userIn("club-two")).toMatchObject({ role: "member" });
    const [kept] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM tenant_users WHERE tenant_id = $1 AND user_id = $2",
      [other.id, USER],
    );
    expect(kept?.n).toBe(1);
    const again = await admin("DELETE", `/tenants/${created.id}/members/${USER}`);
    expect([again.status, await code(again)]).toEqual([404, "not_found"]);
    const nobody = await admin("PUT", `/tenants/${created.id}/members/${crypto.randomUUID()}`, {
      role: "member",
      is_admin: false,
    });
    expect([nobody.status, await code(nobody)]).toEqual([404, "not_found"]);
  });

  it("drops the cached membership when the admin names the ids in upper case", async () => {
    const created = (await (await admin("POST", "/tenants", { slug: "upper", name: "Upper" })).json()) as {
      id: string;
    };
    const path = `/tenants/${created.id.toUpperCase()}/members/${USER.toUpperCase()}`;
    const token = await signToken({ sub: USER });
    const user = async () =>
      ((await (await context("upper", token)).json()) as { user: { role: string } | null }).user;
    expect((await admin("PUT", path, { role: "member", is_admin: false })).status).toBe(200);
    expect(await user()).toMatchObject({ role: "member" });
    await admin("PUT", path, { role: "admin", is_admin: true });
    expect(await user()).toMatchObject({ role: "admin", is_admin: true });
    expect((await admin("DELETE", path)).status).toBe(204);
    expect(await user()).toBeNull();
  });

  it("has dropped a changed or removed member's cached membership from KV by the time it answers", async () => {
    const created = (await (await admin("POST", "/tenants", { slug: "prompt", name: "P" })).json()) as {
      id: string;
    };
    const path = `/tenants/${created.id}/members/${USER}`;
    const key = membershipKey(created.id, USER);
    const token = await signToken({ sub: USER });
    await admin("PUT", path, { role: "member", is_admin: false });
    // Each change: cache the membership (a lookup, as in another isolate), then make the change
    // and read KV as the answer comes, before the change's later second delete.
    for (const [method, body] of [
      ["PUT", { role: "moderator", is_admin: false }],
      ["DELETE", undefined],
    ] as const) {
      await context("prompt", token);
      expect(await env.TENANT_CACHE.get(key)).not.toBeNull();
      let atAnswer: string | null = "not read";
      const res = await call(
        method,
        `http://api.localhost/admin${path}`,
        body,
        { authorization: `Bearer ${env.ADMIN_TOKEN}`, "cf-connecting-ip": CLIENT_IP },
        async () => {
          atAnswer = await env.TENANT_CACHE.get(key);
        },
      );
      expect([method, res.ok, atAnswer]).toEqual([method, true, null]);
    }
  });

  it("keeps a removed member out even when a lookup that read the old row writes it back to KV", async () => {
    const created = (await (await admin("POST", "/tenants", { slug: "racing", name: "R" })).json()) as {
      id: string;
    };
    const path = `/tenants/${created.id}/members/${USER}`;
    await admin("PUT", path, { role: "member", is_admin: false });
    const token = await signToken({ sub: USER });
    const user = async () =>
      ((await (await context("racing", token)).json()) as { user: { role: string } | null }).user;
    expect(await user()).toMatchObject({ role: "member" });
    const key = membershipKey(created.id, USER);
    const cachedMember = await env.TENANT_CACHE.get(key);
    expect(cachedMember).not.toBeNull();
    // The racing lookup (another isolate, its query begun before the removal committed) puts
    // the old answer back just after the removal's first delete.
    const removed = await call(
      "DELETE",
      `http://api.localhost/admin${path}`,
      undefined,
      { authorization: `Bearer ${env.ADMIN_TOKEN}`, "cf-connecting-ip": CLIENT_IP },
      () => env.TENANT_CACHE.put(key, cachedMember ?? ""),
    );
    expect(removed.status).toBe(204);
    expect(await env.TENANT_CACHE.get(key)).toBeNull();
    expect(await user()).toBeNull();
  });

  it("drops a cached membership when a member's change, email change or erasure loses its connection mid-write, its outcome unknown", async () => {
    // An address of its own: the file's other admin calls take most of one address's minute.
    const own = { "cf-connecting-ip": `198.51.100.${(Number(CLIENT_IP.split(".")[3]) % 250) + 6}` };
    const { id } = (await (await admin("POST", "/tenants", { slug: "lost", name: "Lost" }, own)).json()) as {
      id: string;
    };
    const victim = crypto.randomUUID();
    await db.query("INSERT INTO users (id, email) VALUES ($1::uuid, $1::text || '@example.com')", [victim]);
    await admin("PUT", `/tenants/${id}/members/${victim}`, { role: "member", is_admin: false }, own);
    const key = membershipKey(id, victim);
    const token = await signToken({ sub: victim });
    await inSession(db, async (holder) => {
      for (const [method, path, body, lock] of [
        ["PUT", `/tenants/${id}/members/${victim}`, { role: "moderator", is_admin: false }, "tenant_users"],
        ["PUT", `/users/${victim}`, { email: "renamed@example.com" }, "users"],
        ["DELETE", `/tenants/${id}/members/${victim}`, undefined, "tenant_users"],
        ["DELETE", `/users/${victim}`, undefined, "users"],
      ] as const) {
        await context("lost", token); // another isolate caches the membership
        expect([method, path, await env.TENANT_CACHE.get(key)]).not.toEqual([method, path, null]);
        await holder.query("BEGIN");
        await holder.query(
          lock === "users"
            ? "SELECT 1 FROM users WHERE id = $1 FOR UPDATE"
            : "SELECT 1 FROM tenant_users WHERE user_id = $1 FOR UPDATE",
          [victim],
        );
        const writing = admin(method, path, body, own);
        // The write waits on the row; then its connection is lost, as a network fault would.
        expect(await lockWaitOf(db.query)).toBe("transactionid");
        await db.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        );
        const res = await writing;
        await holder.query("ROLLBACK");
        expect([method, path, res.status, await env.TENANT_CACHE.get(key)]).toEqual([
          method,
          path,
          503,
          null,
        ]);
      }
    });
    // None of them happened: the member is still one, as a retry of each will find.
    expect(((await (await context("lost", token)).json()) as { user: { role: string } }).user.role).toBe(
      "member",
    );
  });

  it("refuses bad input with a JSON error: unknown fields, bad slug, malformed JSON, oversized body", async () => {
    const unknown = await admin("POST", "/tenants", { slug: "ok", name: "ok", is_admin: true });
    expect([unknown.status, await code(unknown)]).toEqual([400, "validation_failed"]);
    const badSlug = await admin("POST", "/tenants", { slug: "Bad Slug", name: "x" });
    expect([badSlug.status, await code(badSlug)]).toEqual([400, "validation_failed"]);
    const malformed = await admin("POST", "/tenants", "{nope");
    expect([malformed.status, await code(malformed)]).toEqual([400, "invalid_json"]);
    const huge = await admin("POST", "/tenants", { slug: "big", name: "x".repeat(70_000) });
    expect([huge.status, await code(huge)]).toEqual([413, "payload_too_large"]);
    // Under the body limit, over the settings cap: every cached entry carries the settings.
    const heavy = await admin("POST", "/tenants", {
      slug: "heavy",
      name: "x",
      settings: { theme: "x".repeat(20_000) },
    });
    expect([heavy.status, await code(heavy)]).toEqual([400, "validation_failed"]);
    const empty = await admin("PATCH", `/tenants/${crypto.randomUUID()}`, {});
    expect([empty.status, await code(empty)]).toEqual([400, "validation_failed"]);
    const missing = await admin("PATCH", `/tenants/${crypto.randomUUID()}`, { name: "x" });
    expect([missing.status, await code(missing)]).toEqual([404, "not_found"]);
  });

  it("refuses a PATCH or PUT body that is not sent as JSON with 415, as a POST is", async () => {
    const { id } = (await (await admin("POST", "/tenants", { slug: "typed", name: "Typed" })).json()) as {
      id: string;
    };
    const plain = { "content-type": "text/plain" };
    const patched = await admin("PATCH", `/tenants/${id}`, { name: "x" }, plain);
    expect([patched.status, await code(patched)]).toEqual([415, "unsupported_media_type"]);
    const put = await admin(
      "PUT",
      `/tenants/${id}/members/${USER}`,
      { role: "member", is_admin: false },
      plain,
    );
    expect([put.status, await code(put)]).toEqual([415, "unsupported_media_type"]);
  });

  it("refuses a custom domain under the platform domain, which would resolve by slug to another tenant", async () => {
    const created = await admin("POST", "/tenants", {
      slug: "outside",
      name: "Outside",
      domain: "Shadow.LOCALHOST",
    });
    expect([created.status, await code(created)]).toEqual([400, "validation_failed"]);
    const ok = await admin("POST", "/tenants", { slug: "outside", name: "Outside" });
    const { id } = (await ok.json()) as { id: string };
    const moved = await admin("PATCH", `/tenants/${id}`, { domain: "a.b.localhost" });
    expect([moved.status, await code(moved)]).toEqual([400, "validation_failed"]);
    const fine = await admin("PATCH", `/tenants/${id}`, { domain: "outside-localhost.example" });
    expect(fine.status).toBe(200);
  });

  it("takes an internationalised domain as the A-labels a browser sends in Host, and resolves it", async () => {
    const created = await admin("POST", "/tenants", { slug: "soobshchestvo", name: "Сообщество" });
    const { id } = (await created.json()) as { id: string };
    const idn = new URL("http://сообщество.рф").hostname; // xn--90aci8aadpej1e.xn--p1ai
    expect((await admin("PATCH", `/tenants/${id}`, { domain: idn })).status).toBe(200);
    expect((await context(idn)).status).toBe(200);
    const unicode = await admin("PATCH", `/tenants/${id}`, { domain: "сообщество.рф" });
    expect([unicode.status, await code(unicode)]).toEqual([400, "validation_failed"]);
  });
});

describe("admin validation", () => {
  const v = { "cf-connecting-ip": `198.51.100.${(Number(CLIENT_IP.split(".")[3]) % 250) + 3}` };

  it("refuses a reserved slug, which could never resolve, on create and on rename", async () => {
    const api = await admin("POST", "/tenants", { slug: "api", name: "API" }, v);
    expect([api.status, await code(api)]).toEqual([400, "validation_failed"]);
    const { id } = (await (await admin("POST", "/tenants", { slug: "plain", name: "Plain" }, v)).json()) as {
      id: string;
    };
    const www = await admin("PATCH", `/tenants/${id}`, { slug: "www" }, v);
    expect([www.status, await code(www)]).toEqual([400, "validation_failed"]);
  });

  it("takes only http(s) logo URLs: a page renders them", async () => {
    for (const logo_url of [
      "javascript:alert(1)",
      "data:image/png;base64,AAAA",
      "ftp://files.example/logo.png",
    ]) {
      const res = await admin("POST", "/tenants", { slug: "logo-x", name: "Logo", logo_url }, v);
      expect([res.status, await code(res)]).toEqual([400, "validation_failed"]);
    }
    expect(
      (
        await admin(
          "POST",
          "/tenants",
          { slug: "logo-ok", name: "Logo", logo_url: "https://cdn.example/l.png" },
          v,
        )
      ).status,
    ).toBe(201);
  });

  it("refuses a color that is not #rrggbb and a name of spaces only; list limits stop at their maximum", async () => {
    for (const fields of [{ primary_color: "red" }, { secondary_color: "#12345g" }, { name: "   " }]) {
      const res = await admin("POST", "/tenants", { slug: "bounded", name: "Bounded", ...fields }, v);
      expect([JSON.stringify(fields), res.status]).toEqual([JSON.stringify(fields), 400]);
    }
    const made = await admin(
      "POST",
      "/tenants",
      { slug: "bounded", name: "Bounded", primary_color: "#A1b2C3" },
      v,
    );
    expect(made.status).toBe(201);
    const { id } = (await made.json()) as { id: string };
    for (const [path, max] of [
      ["/tenants", 200],
      [`/tenants/${id}/members`, 500],
      [`/users/${USER}/memberships`, 500],
    ] as const) {
      const at = await admin("GET", `${path}?limit=${max}`, undefined, v);
      const past = await admin("GET", `${path}?limit=${max + 1}`, undefined, v);
      expect([path, at.status, past.status]).toEqual([path, 200, 400]);
    }
  });

  it("says in a few words what each field needs: required, a UUID, a colour as #rrggbb", async () => {
    for (const [method, path, body, message] of [
      ["POST", "/tenants", {}, "slug: required; name: required"],
      [
        "POST",
        "/tenants",
        { slug: "words", name: "W", primary_color: "red" },
        "primary_color: a colour as #rrggbb",
      ],
      ["GET", "/users/not-an-id", undefined, "id: a UUID"],
      ["PUT", `/users/${USER}`, {}, "email: required"],
    ] as const) {
      const res = await admin(method, path, body, v);
      expect([method, path, res.status, ((await res.json()) as ErrorBody).error.message]).toEqual([
        method,
        path,
        400,
        message,
      ]);
    }
  });

  it("answers updated_at in RFC 3339 with Postgres' microseconds", async () => {
    const res = await admin("POST", "/tenants", { slug: "stamped", name: "Stamped" }, v);
    const { id, updated_at } = (await res.json()) as { id: string; updated_at: string };
    expect(updated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d:\d\d$/);
    // The very instant the row holds, not one cut to a JS Date's milliseconds.
    const [same] = await db.query<{ same: boolean }>(
      "SELECT updated_at = $2::timestamptz AS same FROM tenants WHERE id = $1",
      [id, updated_at],
    );
    expect(same?.same).toBe(true);
  });
});

describe("admin users", () => {
  const ops = { "cf-connecting-ip": `198.51.100.${(Number(CLIENT_IP.split(".")[3]) % 250) + 4}` };
  const NEWCOMER = "b4000000-0000-4000-8000-000000000001";

  it("creates a user the identity provider knows, who can then be made a member and is seen as one", async () => {
    const created = await admin("PUT", `/users/${NEWCOMER}`, { email: "New.Comer@Example.com" }, ops);
    expect([created.status, created.headers.get("cache-control")]).toEqual([200, "no-store"]);
    expect(await created.json()).toEqual({
      id: NEWCOMER,
      email: "new.comer@example.com",
      display_name: null,
    });
    // A display name sent on creation is kept from the first write, trimmed.
    const named = "b4000000-0000-4000-8000-000000000009";
    await admin("PUT", `/users/${named}`, { email: "named@example.com", display_name: "  Named " }, ops);
    expect(await (await admin("GET", `/users/${named}`, undefined, ops)).json()).toMatchObject({
      id: named,
      display_name: "Named",
    });
    const { id } = (await (
      await admin("POST", "/tenants", { slug: "welcome", name: "Welcome" }, ops)
    ).json()) as {
      id: string;
    };
    expect(
      (await admin("PUT", `/tenants/${id}/members/${NEWCOMER}`, { role: "member", is_admin: false }, ops))
        .status,
    ).toBe(200);
    const token = await signToken({ sub: NEWCOMER });
    const seen = (await (await context("welcome", token)).json()) as { user: { email: string } | null };
    expect(seen.user?.email).toBe("new.comer@example.com"); // now cached for this member

    // A changed email shows on the next request: the user's cached memberships are dropped.
    const renamed = await admin(
      "PUT",
      `/users/${NEWCOMER}`,
      { email: "renamed@example.com", display_name: "Newcomer" },
      ops,
    );
    expect(await renamed.json()).toEqual({
      id: NEWCOMER,
      email: "renamed@example.com",
      display_name: "Newcomer",
    });
    const again = (await (await context("welcome", token)).json()) as { user: { email: string } | null };
    expect(again.user?.email).toBe("renamed@example.com");
    // An absent display_name keeps the stored one; an unchanged email leaves the cached
    // membership (which the request above put back) where it is.
    await context("welcome", token);
    const cached = membershipKey(id, NEWCOMER);
    expect(await env.TENANT_CACHE.get(cached)).not.toBeNull();
    const kept = await admin("PUT", `/users/${NEWCOMER}`, { email: "renamed@example.com" }, ops);
    expect(((await kept.json()) as { display_name: string | null }).display_name).toBe("Newcomer");
    expect(await env.TENANT_CACHE.get(cached)).not.toBeNull();
  });

  it("erases a user: their rows and dead jobs go, their events stay authorless, and their token is no member's", async () => {
    const LEAVER = "b4000000-0000-4000-8000-000000000010";
    const OTHER_JOB = "b4000000-0000-4000-8000-0000000000f1";
    expect((await admin("PUT", `/users/${LEAVER}`, { email: "leaver@example.com" }, ops)).status).toBe(200);
    const { id } = (await (
      await admin("POST", "/tenants", { slug: "farewell", name: "Farewell" }, ops)
    ).json()) as {
      id: string;
    };
    await admin("PUT", `/tenants/${id}/members/${LEAVER}`, { role: "member", is_admin: false }, ops);
    await db.query(`
      INSERT INTO posts (tenant_id, user_id, content) VALUES ('${id}', '${LEAVER}', 'bye');
      INSERT INTO events (tenant_id, created_by, title, start_date) VALUES ('${id}', '${LEAVER}', 'party', now());
      INSERT INTO dead_jobs (job_id, queue, kind, message, error, user_id) VALUES
        ('b4000000-0000-4000-8000-0000000000f0', 'notification', 'rejected', '{"user_id":"${LEAVER}"}', 'not_member', '${LEAVER}'),
        ('${OTHER_JOB}', 'notification', 'rejected', '{"user_id":"${USER}"}', 'not_member', '${USER}');`);
    const token = await signToken({ sub: LEAVER });
    const before = (await (await context("farewell", token)).json()) as { user: unknown };
    expect(before.user).not.toBeNull(); // cached as a member now

    const erased = await admin("DELETE", `/users/${LEAVER}`, undefined, ops);
    expect([erased.status, await erased.json()]).toEqual([200, { tenant_ids: [id], dead_jobs: 1 }]);

    const after = (await (await context("farewell", token)).json()) as { user: unknown };
    expect(after.user).toBeNull();
    const left = await db.query(`
      SELECT (SELECT count(*)::int FROM posts WHERE user_id = '${LEAVER}') AS posts,
             (SELECT count(*)::int FROM tenant_users WHERE user_id = '${LEAVER}') AS memberships,
             (SELECT count(*)::int FROM events WHERE tenant_id = '${id}' AND created_by IS NULL) AS authorless,
             (SELECT array_agg(job_id::text) FROM dead_jobs WHERE job_id::text LIKE 'b4000000-%') AS dead`);
    expect(left[0]).toEqual({ posts: 0, memberships: 0, authorless: 1, dead: [OTHER_JOB] });
    for (const method of ["GET", "DELETE"]) {
      const gone = await admin(method, `/users/${LEAVER}`, undefined, ops);
      expect([gone.status, await code(gone)]).toEqual([404, "not_found"]);
    }
  });

  it("erasing a user also deletes a dead job of theirs that was being recorded while the erasure began", async () => {
    const LATE = "b4000000-0000-4000-8000-000000000011";
    const JOB = "b4000000-0000-4000-8000-0000000000f2";
    expect((await admin("PUT", `/users/${LATE}`, { email: "late@example.com" }, ops)).status).toBe(200);
    // The batch worker recording a dead job of theirs, not yet committed: its foreign-key check
    // holds a lock on the user's row.
    const erased = await whileUncommitted(
      db,
      `INSERT INTO dead_jobs (job_id, queue, kind, message, error, user_id)
       VALUES ($1, 'notifications', 'exhausted', $2, 'retries exhausted', $3)`,
      [JOB, JSON.stringify({ job_id: JOB, user_id: LATE }), LATE],
      () => admin("DELETE", `/users/${LATE}`, undefined, ops),
    );
    expect(erased.status).toBe(200);
    expect(await db.query("SELECT job_id FROM dead_jobs WHERE job_id = $1", [JOB])).toEqual([]);
  });

  it("refuses text Postgres cannot store in any field, query or body, with a 400 naming it", async () => {
    for (const [method, path, body, field] of [
      ["POST", "/tenants", { slug: "nul", name: "a\u0000b" }, "name"],
      [
        "PUT",
        "/users/b4000000-0000-4000-8000-000000000020",
        { email: "n@example.com", display_name: "\ud800" },
        "display_name",
      ],
      ["GET", "/tenants?domain=%00", undefined, "domain"],
    ] as const) {
      const res = await admin(method, path, body, ops);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect([res.status, error.code, error.message.split(":")[0]]).toEqual([
        400,
        "validation_failed",
        field,
      ]);
    }
  });

  it("reads a user back by id", async () => {
    const res = await admin("GET", `/users/${USER}`, undefined, ops);
    expect([res.status, await res.json()]).toEqual([
      200,
      { id: USER, email: "dana@example.com", display_name: null },
    ]);
  });

  it("finds a user by email, whatever its case, and answers none for an address no one has", async () => {
    const find = async (email: string) => {
      const res = await admin("GET", `/users?email=${encodeURIComponent(email)}`, undefined, ops);
      return [res.status, await res.json()];
    };
    expect(await find("Dana@EXAMPLE.com")).toEqual([
      200,
      { users: [{ id: USER, email: "dana@example.com", display_name: null }] },
    ]);
    expect(await find("nobody@example.com")).toEqual([200, { users: [] }]);
    const bad = await admin("GET", "/users?email=dana", undefined, ops);
    expect([bad.status, ((await bad.json()) as ErrorBody).error.message]).toEqual([
      400,
      "email: an email address",
    ]);
  });

  it("refuses an email another user has (409), a bad email or an unknown field (400)", async () => {
    const taken = await admin(
      "PUT",
      "/users/b4000000-0000-4000-8000-000000000002",
      { email: "DANA@example.com" },
      ops,
    );
    expect([taken.status, await code(taken)]).toEqual([409, "conflict"]);
    for (const body of [
      { email: "not-an-email" },
      { email: "x@example.com", is_admin: true },
      {},
      { email: "x@example.com", display_name: "   " },
    ]) {
      const res = await admin("PUT", "/users/b4000000-0000-4000-8000-000000000003", body, ops);
      expect([res.status, await code(res)]).toEqual([400, "validation_failed"]);
    }
  });
});

describe("community erasure", () => {
  /** A client IP of its own: these tests add to the per-IP admin rate limit. */
  const operator = { "cf-connecting-ip": `198.51.100.${(Number(CLIENT_IP.split(".")[3]) % 250) + 3}` };
  const op = (method: string, path: string, body?: unknown) => admin(method, path, body, operator);
  const answer = async (res: Response) => [res.status, res.status < 300 ? null : await code(res)];

  it("is asked of a deactivated tenant, its slug given as the confirmation; refused otherwise, changing nothing", async () => {
    const { id } = (await (await op("POST", "/tenants", { slug: "leaving", name: "Leaving" })).json()) as {
      id: string;
    };
    expect(await answer(await op("POST", `/tenants/${id}/erasure`, { slug: "leaving" }))).toEqual([
      409,
      "conflict",
    ]);
    expect((await context("leaving")).status).toBe(200);
    await op("DELETE", `/tenants/${id}`);
    expect(await answer(await op("POST", `/tenants/${id}/erasure`, { slug: "staying" }))).toEqual([
      400,
      "validation_failed",
    ]);
    expect(await answer(await op("POST", `/tenants/${id}/erasure`, {}))).toEqual([400, "validation_failed"]);
    expect(
      await answer(
        await op("POST", "/tenants/a9999999-0000-4000-8000-000000000001/erasure", { slug: "leaving" }),
      ),
    ).toEqual([404, "not_found"]);
    expect(await (await op("GET", `/tenants/${id}`)).json()).toMatchObject({ erasure_requested_at: null });

    const asked = await op("POST", `/tenants/${id}/erasure`, { slug: "leaving" });
    const body = (await asked.json()) as { is_active: boolean; erasure_requested_at: string };
    expect([asked.status, body.is_active, typeof body.erasure_requested_at]).toEqual([202, false, "string"]);
    // Asking again changes nothing; the request stays on the tenant as read back.
    const again = (await (
      await op("POST", `/tenants/${id}/erasure`, { slug: "leaving" })
    ).json()) as typeof body;
    expect(again.erasure_requested_at).toBe(body.erasure_requested_at);
    expect(await (await op("GET", `/tenants/${id}`)).json()).toMatchObject({
      erasure_requested_at: body.erasure_requested_at,
    });
    // Nothing brings it back, nor changes it, while it is being erased.
    expect(await answer(await op("PATCH", `/tenants/${id}`, { is_active: true }))).toEqual([409, "conflict"]);
    expect(await answer(await op("PATCH", `/tenants/${id}`, { name: "Renamed" }))).toEqual([409, "conflict"]);
    expect(await answer(await op("DELETE", `/tenants/${id}`))).toEqual([409, "conflict"]);
    expect((await context("leaving")).status).toBe(404);
  });

  it("frees its slug and domain once erased, for a new tenant that resolves on the next request", async () => {
    const { id } = (await (
      await op("POST", "/tenants", { slug: "gone-soon", name: "Gone", domain: "gone.example.org" })
    ).json()) as { id: string };
    expect((await context("gone.example.org")).status).toBe(200);
    await op("DELETE", `/tenants/${id}`);
    await op("POST", `/tenants/${id}/erasure`, { slug: "gone-soon" });
    // What the batch worker's cron runs (its own tests hold what goes).
    await db.query("SELECT * FROM private.erase_tenant_chunk($1, 5000)", [id]);
    expect(await db.query("SELECT private.erase_tenant($1) AS erased", [id])).toEqual([{ erased: true }]);
    expect(await answer(await op("GET", `/tenants/${id}`))).toEqual([404, "not_found"]);

    const next = await op("POST", "/tenants", {
      slug: "gone-soon",
      name: "Next",
      domain: "gone.example.org",
    });
    const created = (await next.json()) as { id: string };
    expect(next.status).toBe(201);
    for (const where of ["gone-soon", "gone.example.org"]) {
      const res = await context(where);
      expect([res.status, ((await res.json()) as { tenant: { id: string } }).tenant.id]).toEqual([
        200,
        created.id,
      ]);
    }
  });
});

describe("admin reads", () => {
  /** A client IP of its own: these tests add to the per-IP admin rate limit. */
  const reader = { "cf-connecting-ip": `198.51.100.${(Number(CLIENT_IP.split(".")[3]) % 250) + 2}` };

  it("reads a tenant back by id, deactivated ones too, and 404s an unknown id", async () => {
    const created = (await (
      await admin("POST", "/tenants", { slug: "readme", name: "Read Me" }, reader)
    ).json()) as {
      id: string;
    };
    const read = await admin("GET", `/tenants/${created.id.toUpperCase()}`, undefined, reader);
    expect([read.status, read.headers.get("cache-control")]).toEqual([200, "no-store"]);
    expect(await read.json()).toEqual(created);
    await admin("DELETE", `/tenants/${created.id}`, undefined, reader);
    expect(await (await admin("GET", `/tenants/${created.id}`, undefined, reader)).json()).toMatchObject({
      slug: "readme",
      is_active: false,
    });
    const unknown = await admin("GET", "/tenants/a9999999-0000-4000-8000-000000000000", undefined, reader);
    expect([unknown.status, await code(unknown)]).toEqual([404, "not_found"]);
    const bad = await admin("GET", "/tenants/readme", undefined, reader);
    expect([bad.status, await code(bad)]).toEqual([400, "validation_failed"]);
  });

  it("lists tenants in slug order, inactive ones too or only one kind, in keyset pages, or finds one by slug or domain", async () => {
    for (const n of [3, 1, 2]) {
      await admin(
        "POST",
        "/tenants",
        { slug: `zz-list-${n}`, name: `List ${n}`, domain: `list${n}.example.test` },
        reader,
      );
    }
    const found = await admin("GET", "/tenants?slug=zz-list-2", undefined, reader);
    const [two] = ((await found.json()) as { tenants: { id: string }[] }).tenants;
    expect((await admin("DELETE", `/tenants/${two?.id}`, undefined, reader)).status).toBe(200);

    const seen: { slug: string; is_active: boolean }[] = [];
    let cursor: string | null = "zz-list"; // sorts before zz-list-1, after every other slug here
    while (cursor) {
      const res = await admin("GET", `/tenants?limit=2&cursor=${cursor}`, undefined, reader);
      expect([res.status, res.headers.get("cache-control")]).toEqual([200, "no-store"]);
      const page = (await res.json()) as { tenants: typeof seen; next_cursor: string | null };
      seen.push(...page.tenants);
      cursor = page.next_cursor;
    }
    expect(seen.map((t) => [t.slug, t.is_active])).toEqual([
      ["zz-list-1", true],
      ["zz-list-2", false],
      ["zz-list-3", true],
    ]);
    const byDomain = (await (
      await admin("GET", "/tenants?domain=LIST3.example.test", undefined, reader)
    ).json()) as {
      tenants: { slug: string }[];
      next_cursor: string | null;
    };
    expect(byDomain).toMatchObject({ tenants: [{ slug: "zz-list-3" }], next_cursor: null });
    const slugs = async (query: string) =>
      (
        (await (await admin("GET", `/tenants?cursor=zz-list&${query}`, undefined, reader)).json()) as {
          tenants: { slug: string }[];
        }
      ).tenants.map((t) => t.slug);
    expect(await slugs("is_active=false")).toEqual(["zz-list-2"]);
    expect(await slugs("is_active=true")).toEqual(["zz-list-1", "zz-list-3"]);
    for (const query of ["cursor=Not%20A%20Slug", "is_active=no"]) {
      const bad = await admin("GET", `/tenants?${query}`, undefined, reader);
      expect([bad.status, await code(bad)]).toEqual([400, "validation_failed"]);
    }
  });

  it("lists a user's communities, inactive ones too, in keyset pages, or only those they run; 404s an unknown user", async () => {
    // A client address of its own: this test alone makes a dozen admin calls.
    const reader = { "cf-connecting-ip": `198.51.100.${(Number(CLIENT_IP.split(".")[3]) % 250) + 5}` };
    const JOINER = "b3000000-0000-4000-8000-0000000000aa";
    await db.query(`INSERT INTO users (id, email) VALUES ('${JOINER}', 'joiner@example.com')`);
    const empty = await admin("GET", `/users/${JOINER}/memberships`, undefined, reader);
    expect(await empty.json()).toEqual({ memberships: [], next_cursor: null });
    const made: string[] = [];
    for (const slug of ["joined-1", "joined-2", "joined-3"]) {
      const { id } = (await (await admin("POST", "/tenants", { slug, name: slug }, reader)).json()) as {
        id: string;
      };
      await admin("PUT", `/tenants/${id}/members/${JOINER}`, { role: "member", is_admin: false }, reader);
      made.push(id);
    }
    await admin("DELETE", `/tenants/${made[1]}`, undefined, reader);
    const seen: { tenant_id: string; is_active: boolean }[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (
        await admin(
          "GET",
          `/users/${JOINER}/memberships?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
          undefined,
          reader,
        )
      ).json()) as { memberships: { tenant_id: string; is_active: boolean }[]; next_cursor: string | null };
      seen.push(...page.memberships);
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.map((m) => m.tenant_id)).toEqual([...made].sort());
    expect(seen.find((m) => m.tenant_id === made[1])?.is_active).toBe(false);
    // The communities the user runs, or the others, as the members list splits them.
    await admin("PUT", `/tenants/${made[2]}/members/${JOINER}`, { role: "owner", is_admin: false }, reader);
    const only = async (flag: boolean) =>
      (
        (await (
          await admin("GET", `/users/${JOINER}/memberships?admin=${flag}`, undefined, reader)
        ).json()) as {
          memberships: { tenant_id: string }[];
        }
      ).memberships.map((m) => m.tenant_id);
    expect(await only(true)).toEqual([made[2]]);
    expect(await only(false)).toEqual([made[0], made[1]].sort());
    const unknown = await admin(
      "GET",
      "/users/b3000000-0000-4000-8000-0000000000ab/memberships",
      undefined,
      reader,
    );
    expect([unknown.status, await code(unknown)]).toEqual([404, "not_found"]);
  });

  it("lists a tenant's members in keyset pages, each once, in user-id order, or only its admins or only the others", async () => {
    const { id } = (await (
      await admin("POST", "/tenants", { slug: "roster", name: "Roster" }, reader)
    ).json()) as {
      id: string;
    };
    const ids = [5, 3, 1, 4, 2].map((n) => `b3000000-0000-4000-8000-00000000000${n}`);
    await db.query(
      "INSERT INTO users (id, email) SELECT u, 'm' || right(u::text, 1) || '@example.com' FROM unnest($1::uuid[]) u",
      [ids],
    );
    await db.query(
      `INSERT INTO tenant_users (tenant_id, user_id, role, is_admin)
         SELECT $2, u, CASE WHEN u = $3 THEN 'admin' ELSE 'member' END, u = $3 FROM unnest($1::uuid[]) u`,
      [ids, id, ids[0]],
    );
    const seen: { user_id: string; role: string; is_admin: boolean; email: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await admin(
        "GET",
        `/tenants/${id}/members?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
        undefined,
        reader,
      );
      expect(res.status).toBe(200);
      const page = (await res.json()) as { members: typeof seen; next_cursor: string | null };
      seen.push(...page.members);
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.map((m) => m.user_id)).toEqual([...ids].sort());
    expect(seen.find((m) => m.user_id === ids[0])).toEqual({
      user_id: ids[0],
      email: "m5@example.com",
      display_name: null,
      role: "admin",
      is_admin: true,
      expertise_level: null,
      interests: [],
    });
    // Admins as authz.ts counts them: is_admin, or an owner or admin role without the flag.
    await db.query("UPDATE tenant_users SET role = 'owner' WHERE tenant_id = $1 AND user_id = $2", [
      id,
      ids[1],
    ]);
    const members = async (query: string) =>
      (
        (await (await admin("GET", `/tenants/${id}/members?${query}`, undefined, reader)).json()) as {
          members: { user_id: string }[];
        }
      ).members.map((m) => m.user_id);
    expect(await members("admin=true")).toEqual([ids[0], ids[1]].sort());
    expect(await members("admin=false")).toEqual(ids.slice(2).sort());
    const bad = await admin("GET", `/tenants/${id}/members?admin=yes`, undefined, reader);
    expect([bad.status, await code(bad)]).toEqual([400, "validation_failed"]);
  });

  it("tells a tenant without members (an empty page) from no tenant (404)", async () => {
    const { id } = (await (
      await admin("POST", "/tenants", { slug: "empty", name: "Empty" }, reader)
    ).json()) as {
      id: string;
    };
    const empty = await admin("GET", `/tenants/${id}/members`, undefined, reader);
    expect(await empty.json()).toEqual({ members: [], next_cursor: null });
    const none = await admin(
      "GET",
      "/tenants/a9999999-0000-4000-8000-000000000000/members",
      undefined,
      reader,
    );
    expect([none.status, await code(none)]).toEqual([404, "not_found"]);
    const bad = await admin("GET", `/tenants/${id}/members?cursor=nope`, undefined, reader);
    expect([bad.status, await code(bad)]).toEqual([400, "validation_failed"]);
  });
});

describe("admin rate limit", () => {
  it("answers 429 with Retry-After once a client IP passes 60 requests a minute, before checking the token", async () => {
    await awaitRoomInRateLimitWindow();
    const statuses: number[] = [];
    for (let i = 0; i < 61; i++) {
      const res = await admin(
        "POST",
        "/tenants",
        { slug: "x", name: "x" },
        {
          authorization: "Bearer guess",
          "cf-connecting-ip": "203.0.113.77",
        },
      );
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get("retry-after")).toBe("60");
        expect(await code(res)).toBe("rate_limited");
      }
    }
    expect(statuses.slice(0, 60).every((s) => s === 403)).toBe(true);
    expect(statuses[60]).toBe(429);
  });
});

describe("GET /openapi.json", () => {
  it("documents the routes", async () => {
    const res = await call("GET", "http://api.localhost/openapi.json");
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/health",
        "/admin/tenants",
        "/admin/tenants/{id}",
        "/admin/tenants/{id}/members",
        "/admin/users/{id}",
        "/v1/context",
      ]),
    );
  });

  it("names every operation once and says how each is authorised, so generated clients send the right token", async () => {
    const res = await call("GET", "http://api.localhost/openapi.json");
    type Operation = {
      operationId?: string;
      security?: Record<string, string[]>[];
      requestBody?: { required?: boolean };
    };
    const doc = (await res.json()) as {
      paths: Record<string, Record<string, Operation>>;
      components: { securitySchemes: Record<string, { scheme: string; bearerFormat?: string }> };
    };
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ path, method, ...op })),
    );
    const ids = operations.map((o) => o.operationId);
    expect(ids.every((id) => typeof id === "string")).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const schemes = (o: Operation) => (o.security ?? []).map((r) => Object.keys(r).join("+") || "none");
    for (const o of operations) {
      expect([o.path, o.security]).not.toEqual([o.path, undefined]);
      if (o.path.startsWith("/admin/")) expect(schemes(o)).toEqual(["adminToken"]);
      else if (o.path.startsWith("/hooks/")) expect(schemes(o)).toEqual(["hookToken"]);
      else if (o.path === "/v1/context") expect(schemes(o)).toEqual(["none", "userToken"]);
      else if (o.path.startsWith("/v1/")) expect(schemes(o)).toEqual(["userToken"]);
      else expect(o.security).toEqual([]);
      // Every body is required (a write without one is refused), and a client generator must know.
      if (o.requestBody) expect([o.method, o.path, o.requestBody.required]).toEqual([o.method, o.path, true]);
    }
    expect(operations.filter((o) => o.requestBody).length).toBeGreaterThanOrEqual(6);
    expect(doc.components.securitySchemes.userToken).toMatchObject({ scheme: "bearer", bearerFormat: "JWT" });
  });

  it("says how each tenant route's request names its tenant (X-Tenant or ?tenant=), and only there", async () => {
    const res = await call("GET", "http://api.localhost/openapi.json");
    type Operation = { parameters?: { name: string; in: string; required?: boolean }[] };
    const doc = (await res.json()) as { paths: Record<string, Record<string, Operation>> };
    const named = (o: Operation | undefined) =>
      (o?.parameters ?? [])
        .filter((p) => p.name === "X-Tenant" || p.name === "tenant")
        // Optional: the host names the tenant as well, so a client must not be made to send them.
        .map((p) => `${p.in}:${p.name}${p.required ? ":required" : ""}`);
    for (const [path, method] of [
      ["/v1/context", "get"],
      ["/v1/jobs", "post"],
      ["/v1/jobs/batch", "post"],
    ] as const) {
      expect([path, named(doc.paths[path]?.[method])]).toEqual([path, ["header:X-Tenant", "query:tenant"]]);
    }
    expect(named(doc.paths["/v1/feed"]?.get)).toEqual([]);
  });

  it("documents each route's errors with the one error body and the headers they carry", async () => {
    const res = await call("GET", "http://api.localhost/openapi.json");
    type Responses = Record<
      string,
      {
        description: string;
        headers?: Record<string, unknown>;
        content?: Record<string, { schema: unknown }>;
      }
    >;
    const doc = (await res.json()) as {
      paths: Record<string, Record<string, { responses: Responses }>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.components.schemas.Error).toBeDefined();
    const jobs = doc.paths["/v1/jobs"]?.post?.responses ?? {};
    expect(Object.keys(jobs)).toEqual(
      expect.arrayContaining(["202", "400", "401", "403", "415", "422", "429", "503"]),
    );
    expect(jobs["415"]?.description).toBe("unsupported_media_type");
    expect(jobs["415"]?.content?.["application/json"]?.schema).toEqual({
      $ref: "#/components/schemas/Error",
    });
    const context = doc.paths["/v1/context"]?.get?.responses ?? {};
    expect(context["404"]?.description).toBe("not_found | tenant_not_found");
    const headers = (status: string) => Object.keys(jobs[status]?.headers ?? {}).sort();
    expect(headers("400")).toEqual(["X-Request-Id"]);
    expect(headers("401")).toEqual(["WWW-Authenticate", "X-Request-Id"]);
    expect(headers("429")).toEqual(["Retry-After", "X-Request-Id"]);
    expect(headers("503")).toEqual(["Retry-After", "X-Request-Id"]);
    // Any route may fail unexpectedly, and a client should know that body too.
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        expect([method, path, op.responses["500"]?.description]).toEqual([method, path, "internal_error"]);
      }
    }
  });

  it("builds the document once per isolate, and answers a client that holds it with 304 and no body", async () => {
    const app = createApp();
    const build = vi.spyOn(app, "getOpenAPI31Document");
    const get = async (headers: Record<string, string> = {}) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request("http://api.localhost/openapi.json", { headers }), env, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };
    const first = await get();
    const text = await first.text();
    const etag = first.headers.get("etag") ?? "";
    expect([first.status, first.headers.get("cache-control"), first.headers.get("content-type")]).toEqual([
      200,
      "public, max-age=300",
      "application/json",
    ]);
    expect(etag).toMatch(/^"[0-9a-f]{24}"$/);
    expect(Object.keys((JSON.parse(text) as { paths: object }).paths)).toContain("/v1/context");

    const again = await get();
    expect([again.headers.get("etag"), await again.text()]).toEqual([etag, text]);
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const held = await get({ "if-none-match": ifNoneMatch });
      expect([ifNoneMatch, held.status, await held.text(), held.headers.get("etag")]).toEqual([
        ifNoneMatch,
        304,
        "",
        etag,
      ]);
    }
    const stale = await get({ "if-none-match": '"an older document"' });
    expect([stale.status, await stale.text()]).toEqual([200, text]);
    expect(build).toHaveBeenCalledTimes(1);
  });
});
