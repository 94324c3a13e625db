import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../../common/errors";
import {
  UNREACHABLE_PROXY,
  useWorkerTestDatabase,
  type WorkerTestDb,
  whileUncommitted,
} from "../../test-support/db";
import { signToken } from "../../test-support/tokens";
import worker from "../src/index";

let db: WorkerTestDb;
const A = "a5100000-0000-4000-8000-000000000001";
const B = "a5100000-0000-4000-8000-000000000002";
const ADMIN = "b5100000-0000-4000-8000-000000000001"; // admin of A
const ANN = "b5100000-0000-4000-8000-000000000002"; // member of A
const BEN = "b5100000-0000-4000-8000-000000000003"; // member of A
const CAT = "b5100000-0000-4000-8000-000000000004"; // member of B only
const MOD = "b5100000-0000-4000-8000-000000000006"; // moderator of A

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${A}', 'content-a', 'Content A'), ('${B}', 'content-b', 'Content B');
    INSERT INTO users (id, email) VALUES ('${ADMIN}', 'admin@content.test'), ('${ANN}', 'ann@content.test'),
      ('${BEN}', 'ben@content.test'), ('${CAT}', 'cat@content.test'), ('${MOD}', 'mod@content.test');
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES
      ('${A}', '${ADMIN}', 'admin', true), ('${A}', '${ANN}', 'member', false),
      ('${A}', '${BEN}', 'member', false), ('${B}', '${CAT}', 'member', false),
      ('${A}', '${MOD}', 'moderator', false);
  `);
});

async function call(
  method: string,
  path: string,
  user: string | null,
  body?: unknown,
  headers: Record<string, string> = {},
  tenant = "content-a",
  bindings: Partial<typeof env> = {},
) {
  const ctx = createExecutionContext();
  const h = new Headers(headers);
  if (user) h.set("authorization", `Bearer ${await signToken({ sub: user })}`);
  if (body !== undefined) h.set("content-type", "application/json");
  const res = await worker.fetch(
    new Request(`http://${tenant}.localhost${path}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    { ...env, DATABASE_URL: db.url, ...bindings },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const post = (user: string | null, body: unknown, headers?: Record<string, string>, tenant?: string) =>
  call("POST", "/v1/posts", user, body, headers, tenant);

const feedOf = async (user: string, type = "posts") => {
  const res = await call("GET", `/v1/feed?type=${type}`, user);
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: Record<string, unknown>[] }).items;
};

const count = async (sql: string, params: unknown[] = []) =>
  Number((await db.query<{ n: string }>(sql, params))[0]?.n);

const errorOf = async (res: Response) => [res.status, ((await res.json()) as ErrorBody).error.code];

describe("POST /v1/posts", () => {
  it("posts as the caller in the resolved community, and the post heads their feed at once", async () => {
    const res = await post(ANN, { content: "hello from ann" });
    expect([res.status, res.headers.get("cache-control")]).toEqual([201, "private, no-store"]);
    const made = (await res.json()) as Record<string, unknown>;
    expect(made).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      tenant_id: A,
      tenant_name: "Content A",
      user_id: ANN,
      content: "hello from ann",
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+\+00:00$/),
      likes: 0,
      comments: 0,
      liked: false,
    });
    // As the feed shows it, so a client can put it at the top of the page it holds.
    const [first] = await feedOf(BEN);
    expect(first).toEqual({ ...made, content_type: "post" });
  });

  it("refuses anyone who is not a member, and writes nothing", async () => {
    const before = await count("SELECT count(*) AS n FROM posts");
    expect(await errorOf(await post(CAT, { content: "not my community" }))).toEqual([403, "forbidden"]);
    expect(await errorOf(await post(null, { content: "anonymous" }))).toEqual([401, "unauthorized"]);
    expect(await count("SELECT count(*) AS n FROM posts")).toBe(before);
  });

  it("refuses a member removed a moment ago, though their membership is still cached", async () => {
    const DAN = "b5100000-0000-4000-8000-000000000005";
    await db.query(
      `INSERT INTO users (id, email) VALUES ('${DAN}', 'dan@content.test');
       INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${DAN}');`,
    );
    // The context route caches the membership; then it is removed behind the cache's back.
    expect((await call("GET", "/v1/context", DAN)).status).toBe(200);
    await db.query(`DELETE FROM tenant_users WHERE user_id = '${DAN}'`);
    expect(await errorOf(await post(DAN, { content: "one last word" }))).toEqual([403, "forbidden"]);
    expect(await count(`SELECT count(*) AS n FROM posts WHERE user_id = '${DAN}'`)).toBe(0);
  });

  it("refuses every field a user may not set (mass assignment), and an empty post", async () => {
    for (const extra of [
      { user_id: BEN },
      { tenant_id: B },
      { id: "c5100000-0000-4000-8000-000000000001" },
      { total_likes: 1000 },
      { deleted_at: "2026-01-01T00:00:00Z" },
      { created_at: "2020-01-01T00:00:00Z" },
    ]) {
      const res = await post(ANN, { content: "x", ...extra });
      expect([extra, await errorOf(res)]).toEqual([extra, [400, "validation_failed"]]);
    }
    expect(await errorOf(await post(ANN, { content: "" }))).toEqual([400, "validation_failed"]);
    expect(await errorOf(await post(ANN, "just text"))).toEqual([400, "validation_failed"]);
    expect(await count(`SELECT count(*) AS n FROM posts WHERE content = 'x'`)).toBe(0);
  });

  it("answers a retried request with the post it made, once; a key reused for another post is 422", async () => {
    const key = { "idempotency-key": "post-retry-1" };
    const first = await post(ANN, { content: "only once" }, key);
    const again = await post(ANN, { content: "only once" }, key);
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(await again.json()).toEqual(await first.json());
    expect(await count(`SELECT count(*) AS n FROM posts WHERE content = 'only once'`)).toBe(1);
    expect(await errorOf(await post(ANN, { content: "something else" }, key))).toEqual([
      422,
      "idempotency_key_reused",
    ]);
    // The key is the caller's own: another member's request with it is theirs.
    expect((await post(BEN, { content: "only once" }, key)).status).toBe(201);
    expect(await count(`SELECT count(*) AS n FROM posts WHERE content = 'only once'`)).toBe(2);
  });

  it("answers a retry that overlaps the first attempt 409, to be retried, and the next retry the post", async () => {
    const key = { "idempotency-key": "post-overlap-1" };
    const first = (await (await post(ANN, { content: "overlap" }, key)).json()) as { id: string };
    // The first attempt made again, uncommitted: as if it were still being written.
    await db.query("DELETE FROM posts WHERE id = $1", [first.id]);
    const overlap = await whileUncommitted(
      db,
      "INSERT INTO posts (id, tenant_id, user_id, content) VALUES ($1, $2, $3, 'overlap')",
      [first.id, A, ANN],
      () => post(ANN, { content: "overlap" }, key),
    );
    expect([overlap.status, (overlap.body as ErrorBody).error.code]).toEqual([409, "conflict"]);
    const retry = await post(ANN, { content: "overlap" }, key);
    expect([retry.status, ((await retry.json()) as { id: string }).id]).toEqual([201, first.id]);
  });

  it("answers 503 with Retry-After, quickly, when the database is down (the tenant cached)", async () => {
    expect((await post(ANN, { content: "warm the tenant cache" })).status).toBe(201);
    const started = Date.now();
    const res = await call("POST", "/v1/posts", ANN, { content: "lost?" }, {}, "content-a", {
      LOCAL_DB_PROXY: UNREACHABLE_PROXY,
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect([...(await errorOf(res)), res.headers.get("retry-after")]).toEqual([
      503,
      "service_unavailable",
      "5",
    ]);
  });

  it("never posts into another community than the one resolved", async () => {
    const res = await post(CAT, { content: "in b" }, {}, "content-b");
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ tenant_id: B, user_id: CAT });
    expect((await feedOf(ANN)).map((p) => p.content)).not.toContain("in b");
  });
});

describe("POST /v1/events", () => {
  const event = {
    title: "Meetup",
    start_date: "2099-05-01T18:00:00Z",
    end_date: "2099-05-01T20:00:00.123456Z",
    location_name: "The hall",
  };

  it("adds an event the members' events feed shows, with every field the author set", async () => {
    const res = await call("POST", "/v1/events", BEN, event);
    expect(res.status).toBe(201);
    const made = (await res.json()) as Record<string, unknown>;
    expect(made).toEqual({
      id: expect.any(String),
      tenant_id: A,
      tenant_name: "Content A",
      created_by: BEN,
      title: "Meetup",
      description: null,
      start_date: "2099-05-01T18:00:00+00:00",
      end_date: "2099-05-01T20:00:00.123456+00:00",
      location_name: "The hall",
      image_url: null,
      created_at: expect.any(String),
    });
    expect((await feedOf(ANN, "events")).map((e) => e.id)).toContain(made.id);
  });

  it("refuses an event without a title or start, one ending before it starts, and fields no one sets", async () => {
    for (const body of [
      { start_date: event.start_date },
      { title: "No start" },
      { ...event, end_date: "2099-05-01T17:59:59Z" },
      { ...event, created_by: ANN },
      { ...event, image_url: "javascript:alert(1)" },
    ]) {
      const res = await call("POST", "/v1/events", BEN, body);
      expect([body, await errorOf(res)]).toEqual([body, [400, "validation_failed"]]);
    }
  });
});

describe("DELETE /v1/posts/{id} and /v1/events/{id}", () => {
  const newPost = async (user: string, content: string) =>
    ((await (await post(user, { content })).json()) as { id: string }).id;

  it("lets the author delete their post, which leaves every feed, and then answers 404", async () => {
    const id = await newPost(ANN, "regret");
    expect((await call("DELETE", `/v1/posts/${id}`, ANN)).status).toBe(204);
    expect((await feedOf(BEN)).map((p) => p.id)).not.toContain(id);
    expect(await count(`SELECT count(*) AS n FROM posts WHERE id = '${id}' AND deleted_at IS NOT NULL`)).toBe(
      1,
    );
    expect(await errorOf(await call("DELETE", `/v1/posts/${id}`, ANN))).toEqual([404, "not_found"]);
  });

  it("refuses another member, and lets a community admin delete it", async () => {
    const id = await newPost(ANN, "heated");
    expect(await errorOf(await call("DELETE", `/v1/posts/${id}`, BEN))).toEqual([403, "forbidden"]);
    expect(await count(`SELECT count(*) AS n FROM posts WHERE id = '${id}' AND deleted_at IS NULL`)).toBe(1);
    expect((await call("DELETE", `/v1/posts/${id}`, ADMIN)).status).toBe(204);
  });

  it("lets a moderator take down another member's post or event, which they may not edit", async () => {
    const id = await newPost(ANN, "off topic");
    const edit = await call("POST", "/v1/jobs", MOD, {
      queue: "content_update",
      operation: "update_content",
      payload: { content_type: "posts", content_id: id, updates: { content: "on topic" } },
    });
    const refusal = (await edit.json()) as ErrorBody;
    expect([edit.status, refusal.error.message]).toEqual([
      403,
      expect.stringMatching(/author or a community admin/),
    ]);
    expect((await call("DELETE", `/v1/posts/${id}`, MOD)).status).toBe(204);
    const event = await call("POST", "/v1/events", ANN, {
      title: "Spam",
      start_date: "2099-06-01T12:00:00Z",
    });
    const { id: eventId } = (await event.json()) as { id: string };
    expect((await call("DELETE", `/v1/events/${eventId}`, MOD)).status).toBe(204);
    // And a plain member is told who may.
    const other = await newPost(ANN, "fine");
    const denied = (await (await call("DELETE", `/v1/posts/${other}`, BEN)).json()) as ErrorBody;
    expect(denied.error.message).toMatch(/author, a moderator or a community admin/);
  });

  it("treats another community's post as none: 404 to its members, 403 to strangers", async () => {
    const res = await post(CAT, { content: "b's own" }, {}, "content-b");
    const { id } = (await res.json()) as { id: string };
    // Through community A, even A's admin cannot reach B's post.
    expect(await errorOf(await call("DELETE", `/v1/posts/${id}`, ADMIN))).toEqual([404, "not_found"]);
    expect(await errorOf(await call("DELETE", `/v1/posts/${id}`, ADMIN, undefined, {}, "content-b"))).toEqual(
      [403, "forbidden"],
    );
    expect(await count(`SELECT count(*) AS n FROM posts WHERE id = '${id}' AND deleted_at IS NULL`)).toBe(1);
  });

  it("deletes an event by the same rule", async () => {
    const res = await call("POST", "/v1/events", ANN, {
      title: "Picnic",
      start_date: "2099-06-01T12:00:00Z",
    });
    const { id } = (await res.json()) as { id: string };
    expect(await errorOf(await call("DELETE", `/v1/events/${id}`, BEN))).toEqual([403, "forbidden"]);
    expect((await call("DELETE", `/v1/events/${id}`, ANN)).status).toBe(204);
    expect((await feedOf(BEN, "events")).map((e) => e.id)).not.toContain(id);
  });

  it("answers 404 to a deletion that waited on another of the same post, and leaves the first one's", async () => {
    const id = await newPost(ANN, "twice");
    // The author's deletion, uncommitted, while the admin's is sent: it waits for the row.
    const first = "UPDATE posts SET deleted_at = '2026-01-01T00:00:00Z' WHERE id = $1";
    const second = await whileUncommitted(db, first, [id], () => call("DELETE", `/v1/posts/${id}`, ADMIN));
    expect([second.status, (second.body as ErrorBody).error.code]).toEqual([404, "not_found"]);
    expect(
      await db.query("SELECT to_json(deleted_at) #>> '{}' AS at FROM posts WHERE id = $1", [id]),
    ).toEqual([{ at: "2026-01-01T00:00:00+00:00" }]);
  });
});

describe("GET /v1/posts/{id} and /v1/events/{id}", () => {
  it("shows a member one post or event as the feed does, and nobody else", async () => {
    const made = (await (await post(ANN, { content: "linked from a notification" })).json()) as {
      id: string;
    };
    const res = await call("GET", `/v1/posts/${made.id}`, BEN);
    expect([res.status, res.headers.get("cache-control")]).toEqual([200, "private, no-store"]);
    expect(await res.json()).toEqual(made);
    // A stranger is refused whether or not it exists: the answer tells them nothing of it.
    expect(await errorOf(await call("GET", `/v1/posts/${made.id}`, CAT))).toEqual([403, "forbidden"]);
    expect(await errorOf(await call("GET", `/v1/posts/${crypto.randomUUID()}`, CAT))).toEqual([
      403,
      "forbidden",
    ]);
    // Through another community, even one the caller is in, it is not there.
    expect(await errorOf(await call("GET", `/v1/posts/${made.id}`, CAT, undefined, {}, "content-b"))).toEqual(
      [404, "not_found"],
    );
    const ev = await call("POST", "/v1/events", ANN, { title: "Talk", start_date: "2099-07-01T18:00:00Z" });
    const event = (await ev.json()) as { id: string };
    expect(await (await call("GET", `/v1/events/${event.id}`, ADMIN)).json()).toEqual(event);
  });

  it("answers 404 for one deleted", async () => {
    const made = (await (await post(ANN, { content: "soon gone" })).json()) as { id: string };
    expect((await call("DELETE", `/v1/posts/${made.id}`, ANN)).status).toBe(204);
    expect(await errorOf(await call("GET", `/v1/posts/${made.id}`, BEN))).toEqual([404, "not_found"]);
  });
});
