import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../common/db";
import type { ErrorBody } from "../../common/errors";
import { databaseAt, useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { awaitRoomInRateLimitWindow } from "../../test-support/rate-limit";
import { signToken, signWithJwks } from "../../test-support/tokens";
import { feedQuery } from "../src/feed/sql";
import worker from "../src/index";

let db: WorkerTestDb;
const baseline = env.TEST_BASELINE_DATABASE_URL ? databaseAt(env.TEST_BASELINE_DATABASE_URL) : null;

const tid = (n: number) => `71000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const uid = (n: number) => `72000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
// Tenants user 2 belongs to: past the feed functions' global-walk threshold (30, in
// db/migrations/0004, 0007 and 0024); the plan tests below show which walk each user gets.
const MANY = 40;
const INACTIVE = tid(6);

/**
 * Six tenants (the sixth inactive) and 40 more for a user in many communities. User 1 is in
 * tenants 1-4 and the inactive one; user 3 in tenant 1 only; user 2 in tenants 100-139.
 * Posts have distinct timestamps except where a test says otherwise.
 */
const SEED = `
  INSERT INTO tenants (id, slug, name, is_active)
  SELECT ('71000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'feed-t' || g, 'Tenant ' || g, g <> 6
  FROM generate_series(1, 6) g;
  INSERT INTO tenants (id, slug, name)
  SELECT ('71000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'feed-m' || g, 'Many ' || (${199 + MANY} - g)
  FROM generate_series(100, ${99 + MANY}) g;
  INSERT INTO users (id, email)
  SELECT ('72000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'feed' || g || '@example.com' FROM generate_series(1, 3) g;
  INSERT INTO tenant_users (tenant_id, user_id)
  SELECT ('71000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '${uid(1)}' FROM generate_series(1, 6) g WHERE g <> 5;
  INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${tid(1)}', '${uid(3)}');
  INSERT INTO tenant_users (tenant_id, user_id)
  SELECT ('71000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '${uid(2)}' FROM generate_series(100, ${99 + MANY}) g;
  -- 30 posts a tenant, one a minute back from a fixed hour, every 7th deleted
  INSERT INTO posts (id, tenant_id, user_id, content, created_at, deleted_at, total_likes)
  SELECT ('73000000-0000-4000-8000-' || lpad((t * 1000 + g)::text, 12, '0'))::uuid,
         ('71000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid, '${uid(3)}', 'post ' || t || '/' || g,
         timestamptz '2026-06-01 12:00:00.123456+00' - make_interval(mins => g * 7 + t),
         CASE WHEN g % 7 = 0 THEN now() END, g
  FROM generate_series(1, 6) t, generate_series(1, 30) g;
  -- events: past, upcoming and deleted
  INSERT INTO events (id, tenant_id, title, start_date, deleted_at)
  SELECT ('74000000-0000-4000-8000-' || lpad((t * 1000 + g)::text, 12, '0'))::uuid,
         ('71000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid, 'event ' || t || '/' || g,
         date_trunc('day', now()) + make_interval(days => g * 3 - 12, hours => t),
         CASE WHEN g = 9 THEN now() END
  FROM generate_series(1, 6) t, generate_series(1, 12) g;
`;

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(SEED);
  if (baseline) {
    await baseline.query(
      "DELETE FROM events; DELETE FROM posts; DELETE FROM tenant_users; DELETE FROM users; DELETE FROM tenants;",
    );
    await baseline.query(SEED);
  }
});

type Page = { items: Record<string, unknown>[]; next_cursor: string | null };

/** A request to the feed worker with a bearer token (or none), bindings replaced as given. */
async function fetchAs(path: string, token: string | null, bindings: Partial<typeof env> = {}) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://feed.localhost${path}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    }),
    { ...env, DATABASE_URL: db.url, ...bindings },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

async function get(path: string, user: string | null = uid(1)) {
  return fetchAs(path, user ? await signToken({ sub: user }) : null);
}

async function page(path: string, user = uid(1)): Promise<Page> {
  const res = await get(path, user);
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
}

/** Every page of a feed, following next_cursor, each page's items. */
async function pagesOf(path: string, user = uid(1)): Promise<Record<string, unknown>[][]> {
  const pages: Record<string, unknown>[][] = [];
  let next: string | null = null;
  for (let i = 0; i < 500; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const p = await page(next ? `${path}${sep}cursor=${encodeURIComponent(next)}` : path, user);
    pages.push(p.items);
    next = p.next_cursor;
    if (!next) break;
  }
  return pages;
}

/** Every item of a feed, page after page. */
const walk = async (path: string, user = uid(1)) => (await pagesOf(path, user)).flat();

/** A write of user 1's (or `user`'s) with a JSON body. */
async function send(method: string, path: string, body: unknown, user = uid(1)) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://feed.localhost${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await signToken({ sub: user })}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    }),
    { ...env, DATABASE_URL: db.url },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const ids = (items: Record<string, unknown>[]) => items.map((i) => i.id);
const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe.skipIf(!baseline)("against the original get_cross_community_content", () => {
  async function originalAll(type: string, tenants: string[] | null) {
    // The original reads auth.uid() from the session: one statement sets it and calls the function.
    const rows = await baseline?.query<{ item: Record<string, unknown> }>(
      `WITH me AS (SELECT set_config('request.jwt.claim.sub', $1, true))
       SELECT public.get_cross_community_content($2, $3::uuid[], 1000, 0) AS item FROM me`,
      [uid(1), type, tenants],
    );
    return rows?.map((r) => r.item) ?? [];
  }

  /** Ours as the original had them: whether the caller likes a post is ours alone. */
  const asOriginal = (items: Record<string, unknown>[]) => items.map(({ liked: _, ...item }) => item);

  it.each(["posts", "events"])(
    "returns the same %s, in the same order and shape, as the original",
    async (type) => {
      const ours = asOriginal(
        await walk(`/v1/feed?type=${type}&limit=7&tenants=${[1, 2, 3, 4, 6].map(tid).join(",")}`),
      );
      const theirs = await originalAll(type, null);
      expect(theirs.length).toBeGreaterThan(20);
      expect(ours).toEqual(theirs);
    },
  );

  it("returns the same for a subset of the user's tenants", async () => {
    const ours = asOriginal(await walk(`/v1/feed?type=posts&limit=9&tenants=${tid(2)},${tid(4)}`));
    expect(ours).toEqual(await originalAll("posts", [tid(2), tid(4)]));
  });
});

describe("GET /v1/feed", () => {
  it("needs a token, before it looks at anything else the request says", async () => {
    const res = await get("/v1/feed", null);
    expect([res.status, await code(res)]).toEqual([401, "unauthorized"]);
    expect(res.headers.get("WWW-Authenticate")).toBe("Bearer");
    for (const path of ["/v1/feed?limit=0", "/v1/me/communities?limit=0"]) {
      const bad = await get(path, null);
      expect([path, bad.status, await code(bad)]).toEqual([path, 401, "unauthorized"]);
    }
  });

  it("refuses an unsupported type, bad tenant ids and out-of-range limits", async () => {
    const typeRes = await get("/v1/feed?type=journeys");
    expect([typeRes.status, await code(typeRes)]).toEqual([400, "unsupported_content_type"]);
    for (const q of [
      "limit=0",
      "limit=101",
      "limit=ten",
      "tenants=nope",
      `tenants=${Array.from({ length: 101 }, (_, i) => uid(i + 10)).join(",")}`,
    ]) {
      const res = await get(`/v1/feed?${q}`);
      expect([q, res.status, await code(res)]).toEqual([q, 400, "validation_failed"]);
    }
  });

  it("says what a limit must be, in the same words however it misses", async () => {
    for (const q of ["limit=ten", "limit=", "limit=2.5", "limit=1e300", "limit=-1"]) {
      const res = await get(`/v1/feed?${q}`);
      expect([q, res.status, ((await res.json()) as ErrorBody).error.message]).toEqual([
        q,
        400,
        "limit: a whole number from 1 to 100",
      ]);
    }
  });

  it("says which parameter was given more than once", async () => {
    const res = await get("/v1/feed?limit=2&limit=3&type=posts");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      "limit: given more than once",
    );
  });

  it("serves 20 items by default, 100 at most, privately, with the database time", async () => {
    const res = await get("/v1/feed");
    expect(((await res.json()) as Page).items).toHaveLength(20);
    expect(res.headers.get("cache-control")).toBe("private, no-store");
    expect(res.headers.get("server-timing")).toMatch(/db;dur=/);
    expect((await page("/v1/feed?limit=100")).items).toHaveLength(100);
  });

  it("reads only the user's active communities, newest first, and never deleted posts", async () => {
    const items = await walk("/v1/feed?limit=50");
    const tenants = new Set(items.map((i) => i.tenant_id));
    expect([...tenants].sort()).toEqual([1, 2, 3, 4].map(tid));
    expect(items.some((i) => String(i.content).endsWith("/7"))).toBe(false); // every 7th is deleted
    expect(items).toHaveLength(4 * 26);
    const times = items.map((i) => Date.parse(String(i.created_at)));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(items[0]).toMatchObject({
      content_type: "post",
      tenant_name: expect.any(String),
      likes: expect.any(Number),
      comments: 0,
    });
    // Exactly these fields: a row passes through as the feed function returns it, so a column
    // the API does not promise (as 0004's sort_at was) would otherwise reach clients unseen.
    expect(Object.keys(items[0] ?? {}).sort()).toEqual([
      "comments",
      "content",
      "content_type",
      "created_at",
      "id",
      "liked",
      "likes",
      "tenant_id",
      "tenant_name",
      "user_id",
    ]);
  });

  it("filters to the requested tenants and silently drops ones the user is not in", async () => {
    // Spaces after the commas, as a hand-written list has them, are no part of an id.
    const items = await walk(`/v1/feed?limit=50&tenants=${tid(2)},%20${tid(5)}, ${tid(100)},${INACTIVE}`);
    expect(new Set(items.map((i) => i.tenant_id))).toEqual(new Set([tid(2)]));
    expect((await page(`/v1/feed?tenants=${tid(5)}`)).items).toEqual([]);
  });

  it("takes a page's cursor with the same tenants listed in another order or repeated", async () => {
    const first = await page(`/v1/feed?limit=5&tenants=${tid(1)},${tid(2)}`);
    const cursor = encodeURIComponent(String(first.next_cursor));
    const whole = await walk(`/v1/feed?limit=10&tenants=${tid(1)},${tid(2)}`);
    for (const tenants of [`${tid(2)},${tid(1)}`, `${tid(2)},${tid(1)},${tid(2)}`]) {
      const next = await page(`/v1/feed?limit=5&tenants=${tenants}&cursor=${cursor}`);
      expect(next.items).toEqual(whole.slice(5, 10));
    }
  });

  it("honours saved preferences, and display_in_feed without them", async () => {
    await db.query(
      `UPDATE tenant_users SET display_in_feed = false WHERE user_id = '${uid(1)}' AND tenant_id = '${tid(4)}'`,
    );
    const hidden = await walk("/v1/feed?limit=100");
    expect(hidden.some((i) => i.tenant_id === tid(4))).toBe(false);
    await db.query(
      `INSERT INTO user_view_preferences (user_id, selected_tenant_ids) VALUES ('${uid(1)}', ARRAY['${tid(3)}', '${tid(5)}']::uuid[])`,
    );
    const preferred = await walk("/v1/feed?limit=100");
    expect(new Set(preferred.map((i) => i.tenant_id))).toEqual(new Set([tid(3)]));
    // An empty selection is no selection, as in the original function: not an empty feed.
    for (const empty of ["tenants=", "tenants=,"]) {
      expect(await walk(`/v1/feed?limit=100&${empty}`)).toEqual(preferred);
    }
    await db.query(`DELETE FROM user_view_preferences WHERE user_id = '${uid(1)}'`);
    await db.query(`UPDATE tenant_users SET display_in_feed = true WHERE user_id = '${uid(1)}'`);
  });

  it("follows a selection the member saves through /v1/me/feed-selection, and refuses one naming others' communities", async () => {
    const put = (body: unknown) => send("PUT", "/v1/me/feed-selection", body);
    const selection = async () => (await get("/v1/me/feed-selection")).json();
    expect(await selection()).toEqual({ tenant_ids: [], updated_at: null });
    const saved = await put({ tenant_ids: [tid(4), tid(2), tid(4)] });
    expect([saved.status, saved.headers.get("cache-control")]).toEqual([200, "private, no-store"]);
    const body = (await saved.json()) as { tenant_ids: string[]; updated_at: string };
    expect(body.tenant_ids).toEqual([tid(2), tid(4)]);
    expect(await selection()).toEqual(body);
    expect(new Set((await walk("/v1/feed?limit=100")).map((i) => i.tenant_id))).toEqual(
      new Set([tid(2), tid(4)]),
    );
    // Tenant 5 is not user 1's: nothing is saved, and the answer names it.
    const refused = await put({ tenant_ids: [tid(3), tid(5)] });
    expect([refused.status, ((await refused.json()) as ErrorBody).error.message]).toEqual([
      400,
      "tenant_ids.1: not a community of yours",
    ]);
    expect(await selection()).toEqual(body);
    const cleared = await put({ tenant_ids: [] });
    expect(await cleared.json()).toEqual({ tenant_ids: [], updated_at: null });
    expect(new Set((await walk("/v1/feed?limit=100")).map((i) => i.tenant_id)).size).toBe(4);
    expect((await put({ tenant_ids: ["feed"] })).status).toBe(400);
  });

  it("hides a community the member turns off (PATCH /v1/me/communities/{id}), and only their own, active ones", async () => {
    const patch = (tenant: string, body: unknown) => send("PATCH", `/v1/me/communities/${tenant}`, body);
    const hidden = await patch(tid(4), { display_in_feed: false });
    expect([hidden.status, await hidden.json()]).toEqual([
      200,
      expect.objectContaining({ tenant_id: tid(4), display_in_feed: false, role: "member" }),
    ]);
    expect((await walk("/v1/feed?limit=100")).some((i) => i.tenant_id === tid(4))).toBe(false);
    const listed = (await (await get("/v1/me/communities")).json()) as {
      communities: { tenant_id: string; display_in_feed: boolean }[];
    };
    expect(listed.communities.find((c) => c.tenant_id === tid(4))?.display_in_feed).toBe(false);
    // Tenant 5 is not user 1's; tenant 6 is, but inactive.
    for (const tenant of [tid(5), INACTIVE]) {
      const res = await patch(tenant, { display_in_feed: false });
      expect([tenant, res.status, await code(res)]).toEqual([tenant, 404, "not_found"]);
    }
    expect((await patch(tid(4), { display_in_feed: "no" })).status).toBe(400);
    expect((await patch(tid(4), { display_in_feed: true })).status).toBe(200);
    expect((await walk("/v1/feed?limit=100")).some((i) => i.tenant_id === tid(4))).toBe(true);
  });

  it("keeps what a member mutes of a community's notifications: the settings named change, the rest stay", async () => {
    const patch = (body: unknown) => send("PATCH", `/v1/me/communities/${tid(3)}`, body);
    const settings = async () => {
      const listed = (await (await get("/v1/me/communities")).json()) as {
        communities: { tenant_id: string; notifications: unknown }[];
      };
      return listed.communities.find((c) => c.tenant_id === tid(3))?.notifications;
    };
    expect(await settings()).toEqual({ muted: false, muted_types: [] });
    // A key of the preferences this API does not know (another client's) is kept.
    await db.query(
      `UPDATE tenant_users SET notification_preferences = '{"digest_hour": 7}' WHERE user_id = '${uid(1)}' AND tenant_id = '${tid(3)}'`,
    );
    const typed = await patch({
      notifications: { muted_types: ["event_reminder", " digest ", "event_reminder"] },
    });
    expect([typed.status, await typed.json()]).toEqual([
      200,
      expect.objectContaining({
        tenant_id: tid(3),
        display_in_feed: true,
        notifications: { muted: false, muted_types: ["digest", "event_reminder"] },
      }),
    ]);
    expect(await patch({ notifications: { muted: true } }).then((r) => r.status)).toBe(200);
    expect(await settings()).toEqual({ muted: true, muted_types: ["digest", "event_reminder"] });
    // Hiding it from the feed leaves its notifications as they are, and the other way round.
    expect(await patch({ display_in_feed: false }).then((r) => r.status)).toBe(200);
    expect(await settings()).toEqual({ muted: true, muted_types: ["digest", "event_reminder"] });
    const [stored] = await db.query<{ p: unknown }>(
      `SELECT notification_preferences AS p FROM tenant_users WHERE user_id = '${uid(1)}' AND tenant_id = '${tid(3)}'`,
    );
    expect(stored?.p).toEqual({ digest_hour: 7, muted: true, muted_types: ["digest", "event_reminder"] });
    for (const bad of [
      {},
      { notifications: {} },
      { notifications: { muted: "yes" } },
      { notifications: { muted_types: [""] } },
      { notifications: { muted_types: ["x".repeat(65)] } },
      { notifications: { muted_types: Array.from({ length: 51 }, (_, i) => `t${i}`) } },
      { notifications: { digest_hour: 8 } },
      { notifications: { muted: false }, role: "admin" },
    ]) {
      const res = await patch(bad);
      expect([JSON.stringify(bad).slice(0, 60), res.status, await code(res)]).toEqual([
        JSON.stringify(bad).slice(0, 60),
        400,
        "validation_failed",
      ]);
    }
    expect(
      await patch({ display_in_feed: true, notifications: { muted: false, muted_types: [] } }).then(
        (r) => r.status,
      ),
    ).toBe(200);
    expect(await settings()).toEqual({ muted: false, muted_types: [] });
  });

  it("drops a community the moment the user leaves it, before any view refresh", async () => {
    await db.query(`DELETE FROM tenant_users WHERE user_id = '${uid(1)}' AND tenant_id = '${tid(3)}'`);
    const items = await walk("/v1/feed?limit=100");
    expect(items.some((i) => i.tenant_id === tid(3))).toBe(false);
    await db.query(`INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${tid(3)}', '${uid(1)}')`);
  });

  it("pages past events whose start is after year 9999 in UTC (written by SQL, or before the API refused them)", async () => {
    // Postgres writes such a time as "10000-…", which Date.parse cannot read: the cursor check
    // refused the cursor the feed had signed, at every page that ended on one.
    await db.query(`
      INSERT INTO events (id, tenant_id, title, start_date)
      SELECT ('77000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '${tid(1)}', 'far ' || g,
             timestamptz '9999-12-31 23:59:59-05:00' + make_interval(hours => g)
      FROM generate_series(1, 3) g;`);
    try {
      const far = ids(await walk(`/v1/feed?type=events&limit=1&tenants=${tid(1)}`)).filter((id) =>
        String(id).startsWith("77000000-"),
      );
      expect(far).toEqual([1, 2, 3].map((g) => `77000000-0000-4000-8000-${String(g).padStart(12, "0")}`));
    } finally {
      await db.query("DELETE FROM events WHERE title LIKE 'far %'");
    }
  });

  it("lists upcoming events soonest first, never past or deleted ones", async () => {
    const items = await walk("/v1/feed?type=events&limit=8");
    const today = new Date(new Date().toISOString().slice(0, 10)).getTime();
    expect(items.length).toBeGreaterThan(0);
    for (const e of items) {
      expect(Date.parse(String(e.start_date))).toBeGreaterThanOrEqual(today);
      expect(String(e.title).endsWith("/9")).toBe(false);
      expect(e.content_type).toBe("event");
    }
    const times = items.map((i) => Date.parse(String(i.start_date)));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(Object.keys(items[0] ?? {}).sort()).toEqual([
      "content_type",
      "description",
      "id",
      "image_url",
      "location_name",
      "start_date",
      "tenant_id",
      "tenant_name",
      "title",
    ]);
  });

  it("signs cursors with the deployment's own secret: one from a deployment with another is refused", async () => {
    // Keys from a JWKS leave no HS256 secret, so cursors are signed with one derived from ADMIN_TOKEN.
    const token = await signWithJwks("ES256", { sub: uid(1) });
    const deployment = (adminToken: string) => (path: string) =>
      fetchAs(path, token, {
        AUTH_JWT_SECRET: "",
        AUTH_JWKS_URL: env.TEST_JWKS_URL,
        ADMIN_TOKEN: adminToken,
      });
    const [ours, theirs] = [deployment("ours-admin-token"), deployment("their-admin-token")];
    const first = (await (await ours("/v1/feed?limit=5")).json()) as Page;
    const next = `/v1/feed?limit=5&cursor=${encodeURIComponent(String(first.next_cursor))}`;
    expect((await ours(next)).status).toBe(200);
    const elsewhere = await theirs(next);
    expect([elsewhere.status, await code(elsewhere)]).toEqual([400, "invalid_cursor"]);
  });

  it("takes cursors signed before an admin token rotation while ADMIN_TOKEN_PREVIOUS holds the old token", async () => {
    const token = await signWithJwks("ES256", { sub: uid(1) });
    const deployment = (vars: Partial<typeof env>) => (path: string) =>
      fetchAs(path, token, { AUTH_JWT_SECRET: "", AUTH_JWKS_URL: env.TEST_JWKS_URL, ...vars });
    const unrotated = deployment({ ADMIN_TOKEN: "old-admin-token", ADMIN_TOKEN_PREVIOUS: "" });
    const rotating = deployment({ ADMIN_TOKEN: "new-admin-token", ADMIN_TOKEN_PREVIOUS: "old-admin-token" });
    const rotated = deployment({ ADMIN_TOKEN: "new-admin-token", ADMIN_TOKEN_PREVIOUS: "" });

    const first = (await (await unrotated("/v1/feed?limit=5")).json()) as Page;
    const next = `/v1/feed?limit=5&cursor=${encodeURIComponent(String(first.next_cursor))}`;
    const midRotation = await rotating(next);
    expect(midRotation.status).toBe(200);
    // What it hands out now is signed with the new token, and outlasts the rotation.
    const second = (await midRotation.json()) as Page;
    const third = `/v1/feed?limit=5&cursor=${encodeURIComponent(String(second.next_cursor))}`;
    expect((await rotated(third)).status).toBe(200);
    const retired = await rotated(next);
    expect([retired.status, await code(retired)]).toEqual([400, "invalid_cursor"]);
  });

  it("refuses a tampered cursor, another user's cursor and another feed's cursor", async () => {
    const { next_cursor } = await page("/v1/feed?limit=5");
    expect(next_cursor).toBeTruthy();
    const cursor = String(next_cursor);
    const [body = "", sig = ""] = cursor.split(".");
    const forged = `${btoa(atob(body.replaceAll("-", "+").replaceAll("_", "/")).replace('"a":"', '"a":"1')).replaceAll("=", "")}.${sig}`;
    expect(forged).not.toBe(cursor);
    for (const [path, user] of [
      [`/v1/feed?limit=5&cursor=${encodeURIComponent(forged)}`, uid(1)],
      [`/v1/feed?limit=5&cursor=${encodeURIComponent(`${body}.${sig.slice(1)}A`)}`, uid(1)],
      [`/v1/feed?limit=5&cursor=garbage`, uid(1)],
      [`/v1/feed?limit=5&cursor=${encodeURIComponent(`${cursor}.${sig}`)}`, uid(1)],
      [`/v1/feed?limit=5&cursor=${encodeURIComponent(cursor)}`, uid(3)],
      [`/v1/feed?type=events&limit=5&cursor=${encodeURIComponent(cursor)}`, uid(1)],
      [`/v1/feed?limit=5&tenants=${tid(1)}&cursor=${encodeURIComponent(cursor)}`, uid(1)],
    ] as const) {
      const res = await get(path, user);
      expect([res.status, await code(res)]).toEqual([400, "invalid_cursor"]);
    }
  });
});

describe("reads per user", () => {
  it("stop at 1,200 a minute across the feed and my communities, 429 with Retry-After, and only for that user", async () => {
    await awaitRoomInRateLimitWindow(10_000);
    const flooder = await signToken({ sub: "f1000000-0000-4000-8000-000000000001" });
    // Refused by validation, after the count: the cheapest calls that still reach the limiter.
    const statuses = new Map<number, number>();
    for (let sent = 0; sent < 1_200; sent += 100) {
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          fetchAs(i % 2 === 0 ? "/v1/feed?limit=0" : "/v1/me/communities?limit=0", flooder),
        ),
      );
      for (const { status } of answers) statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    expect([...statuses]).toEqual([[400, 1_200]]);
    const refused = await fetchAs("/v1/feed", flooder);
    expect([refused.status, await code(refused), refused.headers.get("retry-after")]).toEqual([
      429,
      "rate_limited",
      "60",
    ]);
    // Another user, with no reads of their own this minute, is served.
    expect((await get("/v1/feed", "f1000000-0000-4000-8000-000000000002")).status).toBe(200);
  }, 60_000);
});

describe("keyset pages over many equal timestamps", () => {
  beforeAll(async () => {
    // 1,200 posts in tenant 1 sharing only 40 distinct timestamps, microseconds included.
    await db.query(`
      INSERT INTO posts (tenant_id, user_id, content, created_at)
      SELECT '${tid(1)}', '${uid(3)}', 'tie ' || g, timestamptz '2026-07-01 00:00:00.000001+00' + make_interval(secs => (g % 40) * 0.000001)
      FROM generate_series(1, 1200) g;
      INSERT INTO posts (tenant_id, user_id, content, created_at)
      SELECT ('71000000-0000-4000-8000-' || lpad((100 + g % ${MANY})::text, 12, '0'))::uuid, '${uid(3)}', 'many ' || g,
             timestamptz '2026-07-01 00:00:00+00' + make_interval(mins => g % 25)
      FROM generate_series(1, 1500) g;
      ANALYZE posts;
    `);
  });

  async function expected(userTenants: string[]) {
    const rows = await db.query<{ id: string }>(
      "SELECT id FROM posts WHERE tenant_id = ANY($1::uuid[]) AND deleted_at IS NULL ORDER BY created_at DESC, id DESC",
      [userTenants],
    );
    return rows.map((r) => r.id);
  }

  it("pages a user in 4 communities with no duplicate and no gap", async () => {
    const items = await walk("/v1/feed?limit=37");
    expect(new Set(ids(items)).size).toBe(items.length);
    expect(ids(items)).toEqual(await expected([1, 2, 3, 4].map(tid)));
  });

  it("pages through posts and events that share one timestamp, across communities, with no duplicate and no gap", async () => {
    // A bulk import gives many rows one time: the keyset's id breaks the tie, page after page.
    await db.query(`
      INSERT INTO posts (id, tenant_id, user_id, content, created_at)
      SELECT ('75000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
             ('71000000-0000-4000-8000-' || lpad((1 + g % 4)::text, 12, '0'))::uuid, '${uid(3)}', 'tie ' || g,
             timestamptz '2030-01-01 00:00:00+00'
      FROM generate_series(1, 23) g;
      INSERT INTO events (id, tenant_id, title, start_date)
      SELECT ('76000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
             ('71000000-0000-4000-8000-' || lpad((1 + g % 4)::text, 12, '0'))::uuid, 'tie ' || g,
             date_trunc('day', now()) + interval '1 day'
      FROM generate_series(1, 23) g;
    `);
    try {
      const posts = ids(await walk("/v1/feed?limit=4")).filter((id) =>
        String(id).startsWith("75000000-0000-4000-8000-"),
      );
      expect(posts).toEqual(
        Array.from({ length: 23 }, (_, i) => `75000000-0000-4000-8000-${String(23 - i).padStart(12, "0")}`),
      );
      const events = ids(await walk("/v1/feed?type=events&limit=4")).filter((id) =>
        String(id).startsWith("76000000-0000-4000-8000-"),
      );
      expect(events).toEqual(
        Array.from({ length: 23 }, (_, i) => `76000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`),
      );
    } finally {
      await db.query(
        "DELETE FROM posts WHERE content LIKE 'tie %'; DELETE FROM events WHERE title LIKE 'tie %';",
      );
    }
  });

  it(`pages a user in ${MANY} communities with no duplicate and no gap`, async () => {
    const items = await walk("/v1/feed?limit=61", uid(2));
    expect(items.length).toBe(1500);
    expect(ids(items)).toEqual(await expected(Array.from({ length: MANY }, (_, i) => tid(100 + i))));
  });

  it(`pages a feed filtered to all ${MANY} of a user's communities (a cursor it gives out fits its own bound)`, async () => {
    // The cursor carried the filter's ids, 37 characters each: past about 15 of them it was
    // longer than the 1,024 characters a cursor may be, and the second page was a 400.
    const all = Array.from({ length: MANY }, (_, i) => tid(100 + i));
    const items = await walk(`/v1/feed?limit=100&tenants=${all.join(",")}`, uid(2));
    expect(ids(items)).toEqual(await expected(all));
  });

  it("gives the last page no cursor when it is exactly full", async () => {
    let next: string | null = null;
    let pages = 0;
    do {
      const p = await page(`/v1/feed?limit=60${next ? `&cursor=${next}` : ""}`, uid(2));
      expect(p.items).toHaveLength(60); // 1,500 posts: 25 full pages, and no empty 26th
      next = p.next_cursor;
      pages++;
    } while (next && pages < 30);
    expect(pages).toBe(25);
  });
});

describe("query plans", () => {
  beforeAll(async () => {
    await db.query(`
      INSERT INTO posts (tenant_id, user_id, content, created_at)
      SELECT ('71000000-0000-4000-8000-' || lpad((100 + g % ${MANY})::text, 12, '0'))::uuid, '${uid(3)}', 'bulk', now() - make_interval(secs => g)
      FROM generate_series(1, 40000) g;
      -- Spread over 45 communities (the user's few among them), as on a real platform: with
      -- five communities holding everything, walking the global index is as good a plan.
      INSERT INTO events (tenant_id, title, start_date)
      SELECT ('71000000-0000-4000-8000-' || lpad((CASE WHEN g % 45 < 5 THEN 1 + g % 45 ELSE 95 + g % 45 END)::text, 12, '0'))::uuid,
             'bulk', now() + make_interval(hours => g)
      FROM generate_series(1, 20000) g;
      ANALYZE posts; ANALYZE events;
    `);
  });

  type PlanNode = {
    "Node Type": string;
    "Index Name"?: string;
    "Relation Name"?: string;
    "Actual Loops": number;
    "Actual Rows": number;
    Filter?: string;
    "Index Cond"?: string;
    Plans?: PlanNode[];
  };

  /**
   * The executed plans' nodes, flattened: the feed runs inside a database function, so the
   * plans of its statements come from auto_explain (nested statements, reported to this client
   * as notices). A branch that did not run shows 0 loops.
   */
  async function executed(
    type: "posts" | "events",
    user: string,
    skip: (note: string) => never,
  ): Promise<PlanNode[]> {
    const handle = openDb({ DATABASE_URL: db.url, LOCAL_DB_PROXY: env.LOCAL_DB_PROXY });
    const client = await handle.pool.connect();
    const notices: string[] = [];
    client.on("notice", (n: { message?: string }) => notices.push(n.message ?? ""));
    try {
      // Only a superuser may load it (DATABASE_URL can name another role, as Neon's owner is).
      const loaded = await client.query("LOAD 'auto_explain'").then(
        () => true,
        (e: { code?: string }) => {
          if (e.code !== "42501") throw e;
          return false;
        },
      );
      if (!loaded) skip("this role may not load auto_explain, which shows a function's plans");
      for (const setting of [
        "auto_explain.log_min_duration = 0",
        "auto_explain.log_nested_statements = on",
        "auto_explain.log_analyze = on",
        "auto_explain.log_timing = off",
        "auto_explain.log_format = json",
        "auto_explain.log_level = notice",
      ]) {
        await client.query(`SET ${setting}`);
      }
      const q = feedQuery(type, user, null, null, 20);
      await client.query(q.text, q.params);
    } finally {
      client.release();
      await handle.close();
    }
    const nodes: PlanNode[] = [];
    const walk = (n: PlanNode) => {
      nodes.push(n);
      for (const c of n.Plans ?? []) walk(c);
    };
    for (const notice of notices) {
      const json = notice.slice(notice.indexOf("{"));
      walk((JSON.parse(json) as { Plan: PlanNode }).Plan);
    }
    return nodes;
  }
  const ran = (nodes: PlanNode[], index: string) =>
    nodes.some((n) => n["Index Name"] === index && n["Actual Loops"] > 0);
  /** No sort over more rows than the per-community walks hand it (communities x rows asked). */
  const largestSortInput = (nodes: PlanNode[]) =>
    Math.max(
      0,
      ...nodes
        .filter((n) => n["Node Type"] === "Sort")
        .map((n) => (n.Plans?.[0]?.["Actual Rows"] ?? 0) * (n.Plans?.[0]?.["Actual Loops"] ?? 0)),
    );

  it("reads each community's newest posts through its own index for a user in few communities", async ({
    skip,
  }) => {
    const nodes = await executed("posts", uid(1), skip);
    expect(ran(nodes, "idx_posts_tenant_feed")).toBe(true);
    expect(ran(nodes, "idx_posts_feed_global")).toBe(false);
    expect(
      nodes.some(
        (n) => n["Node Type"] === "Seq Scan" && n["Relation Name"] === "posts" && n["Actual Loops"] > 0,
      ),
    ).toBe(false);
    expect(largestSortInput(nodes)).toBeLessThanOrEqual(4 * 21); // a page of 20 reads 21 rows
  });

  it(`walks the global (created_at, id) index, sorting nothing, for a user in ${MANY} communities`, async ({
    skip,
  }) => {
    const nodes = await executed("posts", uid(2), skip);
    expect(ran(nodes, "idx_posts_feed_global")).toBe(true);
    expect(ran(nodes, "idx_posts_tenant_feed")).toBe(false);
    expect(nodes.filter((n) => n["Node Type"] === "Sort" && n["Actual Loops"] > 0)).toEqual([]);
    // Planned for this user's list, not generically ($1): a generic plan cannot tell a long list
    // from a short one, and on a large table took a bitmap scan and a sort (66 ms, not 0.15).
    const walk = nodes.find((n) => n["Index Name"] === "idx_posts_feed_global");
    expect(walk?.Filter).toMatch(/tenant_id = ANY \('\{/);
  });

  it("reads upcoming events through the per-community (start_date, id) index", async ({ skip }) => {
    const nodes = await executed("events", uid(1), skip);
    expect(ran(nodes, "idx_events_tenant_upcoming")).toBe(true);
    expect(
      nodes.some(
        (n) => n["Node Type"] === "Seq Scan" && n["Relation Name"] === "events" && n["Actual Loops"] > 0,
      ),
    ).toBe(false);
  });
});

describe("a feed of long posts", () => {
  const LONG_TENANT = tid(300);
  const READER = uid(30);
  const longPost = (n: number) => `75000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

  beforeAll(async () => {
    // 40 posts of 400 KB, and one of 3 MiB: 19 MB of text, past what one answer may carry.
    await db.query(`
      INSERT INTO tenants (id, slug, name) VALUES ('${LONG_TENANT}', 'feed-long', 'Long reads');
      INSERT INTO users (id, email) VALUES ('${READER}', 'reader@example.com');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${LONG_TENANT}', '${READER}');
      INSERT INTO posts (id, tenant_id, user_id, content, created_at)
      SELECT ('75000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '${LONG_TENANT}', '${READER}',
             CASE WHEN g = 20 THEN repeat('«long» "read" ', 3 * 1024 * 1024 / 16) ELSE repeat('x', 400 * 1024) END,
             timestamptz '2026-06-01 12:00:00+00' - make_interval(mins => g)
      FROM generate_series(1, 41) g;`);
  });

  it("pages by size as well as by count, so no page is too large to answer, and every post comes once, in order", async () => {
    const res = await get("/v1/feed?type=posts&limit=100", READER);
    expect(res.status).toBe(200);
    const first = (await res.json()) as Page;
    // Five of 400 KB fit in 2 MiB; a sixth would not.
    expect(ids(first.items)).toEqual([1, 2, 3, 4, 5].map(longPost));
    expect(first.next_cursor).not.toBeNull();
    const all = await walk("/v1/feed?type=posts&limit=100", READER);
    expect(ids(all)).toEqual(Array.from({ length: 41 }, (_, i) => longPost(i + 1)));
    // The 3 MiB post, longer than a page may be, comes whole on a page of its own.
    expect(new TextEncoder().encode(String(all[19]?.content)).length).toBe(3 * 1024 * 1024);
  });

  it("pages upcoming events by size too: a long description comes whole, alone, and the rest around it", async () => {
    await db.query(`
      INSERT INTO events (id, tenant_id, title, description, start_date)
      SELECT ('76000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '${LONG_TENANT}', 'Talk ' || g,
             CASE WHEN g = 2 THEN repeat('d', 3 * 1024 * 1024) ELSE repeat('d', 900 * 1024) END,
             date_trunc('day', now()) + make_interval(days => g)
      FROM generate_series(1, 5) g`);
    const pages = await pagesOf("/v1/feed?type=events&limit=100", READER);
    // 900 KB each: two fit in 2 MiB; the 3 MiB one stops the page before it and comes alone.
    expect(pages.map((items) => items.map((i) => i.title))).toEqual([
      ["Talk 1"],
      ["Talk 2"],
      ["Talk 3", "Talk 4"],
      ["Talk 5"],
    ]);
  });

  it("answers a worker deployed before the page size bound (five arguments) as before, unbounded", async () => {
    // Eight of 400 KB: past 2 MiB, which a six-argument call would have cut at five.
    const rows = await db.query<{ id: string | null }>(
      "SELECT id FROM private.feed_posts($1, NULL, NULL, NULL, 8)",
      [READER],
    );
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map(longPost));
  });
});

describe("GET /v1/me/communities", () => {
  it("lists live memberships with the view's counts and says how fresh they are", async () => {
    await db.query("SELECT private.refresh_user_communities()");
    const res = await get("/v1/me/communities");
    expect(res.headers.get("cache-control")).toBe("private, no-store");
    const body = (await res.json()) as {
      communities: { tenant_id: string; member_count: number | null; recent_activity_count: number | null }[];
      data_as_of: string;
    };
    expect(body.communities.map((c) => c.tenant_id)).toEqual([1, 2, 3, 4].map(tid));
    expect(body.communities[0]).toMatchObject({
      name: "Tenant 1",
      slug: "feed-t1",
      role: "member",
      is_admin: false,
      member_count: 2,
    });
    expect(Date.parse(body.data_as_of)).toBeGreaterThan(Date.now() - 60_000);
  });

  type Community = { tenant_id: string; name: string };

  /** Every page of a user's communities, following next_cursor. */
  async function communityPages(user: string, limit: number): Promise<Community[][]> {
    const pages: Community[][] = [];
    let cursor: string | null = null;
    do {
      const res = await get(
        `/v1/me/communities?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        user,
      );
      expect(res.status).toBe(200);
      const page = (await res.json()) as { communities: Community[]; next_cursor: string | null };
      pages.push(page.communities);
      cursor = page.next_cursor;
    } while (cursor && pages.length < 100);
    return pages;
  }

  it(`pages a user in ${MANY} communities in name order, each once, the last page without a cursor`, async () => {
    const pages = await communityPages(uid(2), 15);
    const seen = pages.flat().map((c) => c.name);
    expect(pages.length).toBe(Math.ceil(MANY / 15));
    // Named in the reverse of their ids' order, so name order is not id order.
    const names = Array.from({ length: MANY }, (_, i) => `Many ${100 + i}`);
    expect(seen).toEqual([...names].sort());
    const full = (await (await get(`/v1/me/communities?limit=${MANY}`, uid(2))).json()) as {
      next_cursor: string | null;
    };
    expect(full.next_cursor).toBeNull();
  });

  it("pages communities that share a name in id order, skipping none", async () => {
    await db.query(`
      INSERT INTO tenants (id, slug, name)
      SELECT ('71000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'feed-twin' || g, 'Twins'
      FROM generate_series(201, 203) g;
      INSERT INTO users (id, email) VALUES ('${uid(4)}', 'feed4@example.com');
      INSERT INTO tenant_users (tenant_id, user_id)
      SELECT ('71000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '${uid(4)}'
      FROM generate_series(201, 203) g;`);
    const pages = await communityPages(uid(4), 1);
    expect(pages.flat().map((c) => c.tenant_id)).toEqual([201, 202, 203].map(tid));
  });

  it("pages communities with the longest names, and names escaped in JSON: every cursor it gives out is taken back", async () => {
    // The cursor carries the last name: 200 control characters are 1.2 KB as JSON, and outgrew
    // the cursor's 1,024 characters, so the next page was a 400.
    const names = [
      "repeat(chr(1), 200)",
      "repeat('🧗', 200)",
      `repeat('"\\', 100)`,
      "repeat('Long name ', 20)",
    ];
    await db.query(
      `INSERT INTO tenants (id, slug, name)
       SELECT ('71000000-0000-4000-8000-' || lpad((300 + i)::text, 12, '0'))::uuid, 'feed-long' || i, name
       -- Each name twice, so that each one is some page's last, whatever the collation's order.
       FROM unnest(ARRAY[${[...names, ...names].join(", ")}]) WITH ORDINALITY AS n(name, i);
       INSERT INTO users (id, email) VALUES ('${uid(5)}', 'feed5@example.com');
       INSERT INTO tenant_users (tenant_id, user_id)
       SELECT ('71000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '${uid(5)}'
       FROM generate_series(301, 308) g;`,
    );
    const order = await db.query<{ id: string }>(
      "SELECT t.id FROM tenants t JOIN tenant_users tu ON tu.tenant_id = t.id WHERE tu.user_id = $1 ORDER BY t.name, t.id",
      [uid(5)],
    );
    const pages = await communityPages(uid(5), 1);
    expect(pages.flat().map((c) => c.tenant_id)).toEqual(order.map((r) => r.id));
    expect(pages).toHaveLength(8);
  });

  it("refuses a cursor it did not give out and a limit out of range with a JSON 400", async () => {
    for (const [query, code] of [
      ["cursor=bm90LWpzb24", "invalid_cursor"],
      ["cursor=WyJ4Iiwibm90LWFuLWlkIl0", "invalid_cursor"],
      // A name with U+0000 (Postgres text cannot hold it) failed the page's query: a 503.
      [`cursor=${Buffer.from(JSON.stringify(["a\u0000b", tid(1)])).toString("base64url")}`, "invalid_cursor"],
      ["limit=0", "validation_failed"],
      ["limit=501", "validation_failed"],
    ]) {
      const res = await get(`/v1/me/communities?${query}`);
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([
        400,
        code,
      ]);
    }
  });

  it("lists a community joined after the refresh (counts pending) and drops one just left", async () => {
    await db.query(`INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${tid(5)}', '${uid(1)}')`);
    await db.query(`DELETE FROM tenant_users WHERE tenant_id = '${tid(2)}' AND user_id = '${uid(1)}'`);
    const body = (await (await get("/v1/me/communities")).json()) as {
      communities: { tenant_id: string; member_count: number | null }[];
    };
    expect(body.communities.map((c) => c.tenant_id)).toEqual([1, 3, 4, 5].map(tid));
    expect(body.communities.find((c) => c.tenant_id === tid(5))?.member_count).toBeNull();
  });
});

describe(`events for a user in ${MANY} communities (the global walk)`, () => {
  it("lists upcoming ones soonest first, never past or deleted ones, as for a user in few", async () => {
    const many = Array.from({ length: MANY }, (_, i) => tid(100 + i));
    await db.query(
      `INSERT INTO events (tenant_id, title, start_date, deleted_at)
       SELECT t, 'many event ' || g, date_trunc('day', now()) + make_interval(days => g % 9 - 4, hours => g % 24),
              CASE WHEN g % 5 = 0 THEN now() END
         FROM generate_series(1, 200) g, LATERAL (SELECT ($1::uuid[])[1 + g % ${MANY}] AS t) x`,
      [many],
    );
    const expected = await db.query<{ id: string }>(
      `SELECT id FROM events
        WHERE tenant_id = ANY($1::uuid[]) AND deleted_at IS NULL
          AND start_date >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        ORDER BY start_date, id`,
      [many],
    );
    expect(expected.length).toBeGreaterThan(50);
    // Every upcoming event of theirs, the ones other tests added included: 100 a page.
    expect(ids(await walk("/v1/feed?type=events&limit=100", uid(2)))).toEqual(expected.map((r) => r.id));
  });
});
