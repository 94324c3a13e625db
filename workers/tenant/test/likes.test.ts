import type { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../../common/errors";
import {
  eraseWhileBatchEdits,
  UNREACHABLE_PROXY,
  useWorkerTestDatabase,
  type WorkerTestDb,
  whileUncommitted,
} from "../../test-support/db";
import { expectUnavailableQuickly, requestAs } from "../../test-support/requests";
import worker from "../src/index";

let db: WorkerTestDb;
const A = "a5800000-0000-4000-8000-000000000001";
const B = "a5800000-0000-4000-8000-000000000002";
const user = (n: number) => `b5800000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const post = (n: number) => `c5800000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const [ANN, BEN, CAT, DAN, EVE] = [1, 2, 3, 4, 5].map(user) as [string, string, string, string, string];
/** A's members who like one post all at once: ids 11 to 30. */
const CROWD = Array.from({ length: 20 }, (_, i) => user(11 + i));
const LIKED = post(1); // A's, by ANN
const B_POST = post(2); // B's, by CAT
const DELETED = post(3); // A's, deleted
const PAGED = post(4); // A's
const BUSY = post(5); // A's, liked by the crowd
const ERASED_LIKES = post(6); // A's
const DRIFTED = post(7); // A's
const VANISHING = post(8); // A's, deleted outright while liked

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${A}', 'likes-a', 'Likes A'), ('${B}', 'likes-b', 'Likes B');
    INSERT INTO users (id, email, display_name)
    SELECT ('b5800000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'liker' || g || '@example.com', 'Liker ' || g
      FROM generate_series(1, 30) g;
    INSERT INTO tenant_users (tenant_id, user_id)
    SELECT '${A}', ('b5800000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid FROM generate_series(1, 30) g WHERE g <> 3;
    INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${B}', '${CAT}');
    INSERT INTO posts (id, tenant_id, user_id, content, deleted_at) VALUES
      ('${LIKED}', '${A}', '${ANN}', 'liked', NULL), ('${B_POST}', '${B}', '${CAT}', 'b only', NULL),
      ('${DELETED}', '${A}', '${ANN}', 'gone', now()), ('${PAGED}', '${A}', '${ANN}', 'paged', NULL),
      ('${BUSY}', '${A}', '${ANN}', 'busy', NULL), ('${ERASED_LIKES}', '${A}', '${ANN}', 'erased', NULL),
      ('${DRIFTED}', '${A}', '${ANN}', 'drifted', NULL), ('${VANISHING}', '${A}', '${ANN}', 'vanishing', NULL);
  `);
});

const call = (
  method: string,
  path: string,
  who: string,
  tenant = "likes-a",
  bindings: Partial<typeof env> = {},
) =>
  requestAs(
    worker,
    { method, path, who, host: `${tenant}.localhost` },
    { DATABASE_URL: db.url, ...bindings },
  );

const like = (who: string, id: string, tenant?: string) => call("PUT", `/v1/posts/${id}/like`, who, tenant);
const unlike = (who: string, id: string) => call("DELETE", `/v1/posts/${id}/like`, who);

interface Likes {
  likes: number;
  liked: boolean;
  likers: { user_id: string; display_name: string | null; liked_at: string }[];
  next_cursor: string | null;
}
const likesOf = async (who: string, id: string, query = "") => {
  const res = await call("GET", `/v1/posts/${id}/likes${query}`, who);
  expect(res.status).toBe(200);
  return (await res.json()) as Likes;
};
/** The post's likes as GET /v1/posts/{id} shows them. */
const shownLikes = async (id: string) => {
  const res = await call("GET", `/v1/posts/${id}`, ANN);
  return ((await res.json()) as { likes: number }).likes;
};

interface Shown {
  id: string;
  likes: number;
  liked: boolean;
}
/** A post as `who` is shown it: by itself, and in their feed. */
const seenBy = async (who: string, id: string) => {
  const one = (await (await call("GET", `/v1/posts/${id}`, who)).json()) as Shown;
  const feed = (await (await call("GET", "/v1/feed?limit=100", who, "api")).json()) as { items: Shown[] };
  const inFeed = feed.items.find((item) => item.id === id);
  return {
    one: { likes: one.likes, liked: one.liked },
    feed: { likes: inFeed?.likes, liked: inFeed?.liked },
  };
};

const errorOf = async (res: Response) => [res.status, ((await res.json()) as ErrorBody).error.code];

describe("liking a post", () => {
  it("counts a member's like once however often they say it, and shows who likes it", async () => {
    const first = await like(BEN, LIKED);
    expect([first.status, await first.json()]).toEqual([200, { post_id: LIKED, liked: true, likes: 1 }]);
    expect(await (await like(BEN, LIKED)).json()).toEqual({ post_id: LIKED, liked: true, likes: 1 });
    // The author may like their own.
    expect(await (await like(ANN, LIKED)).json()).toEqual({ post_id: LIKED, liked: true, likes: 2 });
    expect(await shownLikes(LIKED)).toBe(2);
    expect(await likesOf(DAN, LIKED)).toEqual({
      likes: 2,
      liked: false,
      likers: [
        { user_id: ANN, display_name: "Liker 1", liked_at: expect.any(String) },
        { user_id: BEN, display_name: "Liker 2", liked_at: expect.any(String) },
      ],
      next_cursor: null,
    });
    expect((await likesOf(BEN, LIKED)).liked).toBe(true);
    // Each post says whether the caller likes it, by itself and in the feed.
    expect(await seenBy(BEN, LIKED)).toEqual({
      one: { likes: 2, liked: true },
      feed: { likes: 2, liked: true },
    });
    expect(await seenBy(DAN, LIKED)).toEqual({
      one: { likes: 2, liked: false },
      feed: { likes: 2, liked: false },
    });
  });

  it("takes a like back, once however often it is asked, and counts it off", async () => {
    expect((await like(EVE, PAGED)).status).toBe(200);
    const gone = await unlike(EVE, PAGED);
    expect([gone.status, await gone.json()]).toEqual([200, { post_id: PAGED, liked: false, likes: 0 }]);
    expect(await (await unlike(EVE, PAGED)).json()).toEqual({ post_id: PAGED, liked: false, likes: 0 });
    // Never liked: the same answer.
    expect(await (await unlike(DAN, PAGED)).json()).toEqual({ post_id: PAGED, liked: false, likes: 0 });
    expect(await likesOf(EVE, PAGED)).toMatchObject({ likes: 0, liked: false, likers: [] });
  });

  it("counts every like of many members liking at once, and every unlike", async () => {
    const liked = await Promise.all(CROWD.map((who) => like(who, BUSY)));
    expect(liked.map((r) => r.status)).toEqual(CROWD.map(() => 200));
    expect(await shownLikes(BUSY)).toBe(CROWD.length);
    const half = CROWD.slice(0, 10);
    await Promise.all(half.map((who) => unlike(who, BUSY)));
    const rows = await db.query<{ total_likes: number; rows: number }>(
      `SELECT total_likes, (SELECT count(*)::int FROM post_likes WHERE post_id = $1) AS rows FROM posts WHERE id = $1`,
      [BUSY],
    );
    expect(rows).toEqual([{ total_likes: 10, rows: 10 }]);
  });

  it("pages who likes a post in user-id order, each once", async () => {
    await Promise.all(CROWD.slice(0, 5).map((who) => like(who, PAGED)));
    const seen: string[] = [];
    let query = "?limit=2";
    for (;;) {
      const page = await likesOf(ANN, PAGED, query);
      expect(page.likes).toBe(5);
      seen.push(...page.likers.map((l) => l.user_id));
      if (!page.next_cursor) break;
      query = `?limit=2&cursor=${page.next_cursor}`;
    }
    expect(seen).toEqual(CROWD.slice(0, 5));
  });

  it("leaves the post's updated_at, which orders its queued edits, as it was, and stamps any other change", async () => {
    const before = await db.query<{ updated_at: string }>(
      "SELECT updated_at::text FROM posts WHERE id = $1",
      [LIKED],
    );
    expect((await like(DAN, LIKED)).status).toBe(200);
    expect((await unlike(DAN, LIKED)).status).toBe(200);
    const after = await db.query<{ updated_at: string }>("SELECT updated_at::text FROM posts WHERE id = $1", [
      LIKED,
    ]);
    expect(after).toEqual(before);
    // Any other change is still stamped.
    await db.query("UPDATE posts SET content = 'liked, edited' WHERE id = $1", [LIKED]);
    const edited = await db.query<{ updated_at: string }>(
      "SELECT updated_at::text FROM posts WHERE id = $1",
      [LIKED],
    );
    expect(edited).not.toEqual(before);
  });

  it("keeps the like of a member who left, and counts off an erased user's", async () => {
    await Promise.all([like(DAN, ERASED_LIKES), like(EVE, ERASED_LIKES)]);
    await db.query(`DELETE FROM tenant_users WHERE tenant_id = '${A}' AND user_id = '${DAN}'`);
    expect((await likesOf(ANN, ERASED_LIKES)).likers.map((l) => l.user_id)).toEqual([DAN, EVE]);
    await db.query("SELECT private.erase_user($1)", [EVE]);
    expect(await likesOf(ANN, ERASED_LIKES)).toMatchObject({ likes: 1, likers: [{ user_id: DAN }] });
    await db.query(`INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${DAN}')`);
  });

  it("lets one who left the community take back their like, and nothing more there", async () => {
    const LEFT = post(10);
    await db.query(
      `INSERT INTO posts (id, tenant_id, user_id, content) VALUES ('${LEFT}', '${A}', '${ANN}', 'left')`,
    );
    await Promise.all([like(DAN, LEFT), like(BEN, LEFT)]);
    await db.query(`DELETE FROM tenant_users WHERE tenant_id = '${A}' AND user_id = '${DAN}'`);
    try {
      const gone = await unlike(DAN, LEFT);
      expect([gone.status, await gone.json()]).toEqual([200, { post_id: LEFT, liked: false, likes: 1 }]);
      // Their like is gone now: the post is a stranger's again, as are the others, existing or not.
      expect(await errorOf(await unlike(DAN, LEFT))).toEqual([403, "forbidden"]);
      expect(await errorOf(await unlike(DAN, LIKED))).toEqual([403, "forbidden"]);
      expect(await errorOf(await unlike(DAN, post(99)))).toEqual([403, "forbidden"]);
      expect(await errorOf(await like(DAN, LEFT))).toEqual([403, "forbidden"]);
    } finally {
      await db.query(`INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${DAN}')`);
    }
  });

  it("never takes a count below zero, where the count was loaded without its likes", async () => {
    expect((await like(BEN, DRIFTED)).status).toBe(200);
    await db.query("UPDATE posts SET total_likes = 0 WHERE id = $1", [DRIFTED]);
    const gone = await unlike(BEN, DRIFTED);
    expect([gone.status, await gone.json()]).toEqual([200, { post_id: DRIFTED, liked: false, likes: 0 }]);
    expect(await shownLikes(DRIFTED)).toBe(0);
  });

  it("goes with its post when the post is deleted outright", async () => {
    expect((await like(BEN, DRIFTED)).status).toBe(200);
    await db.query("DELETE FROM posts WHERE id = $1", [DRIFTED]);
    const rows = await db.query("SELECT 1 FROM post_likes WHERE post_id = $1", [DRIFTED]);
    expect(rows).toEqual([]);
  });

  it("erases users who liked each other's posts at the same moment, both (db/migrations/0038)", async () => {
    // Five pairs: each user has posts the other liked. Erased at once, each pair's two
    // erasures needed the same posts in opposite orders, and one in two deadlocked.
    const pairs = [0, 1, 2, 3, 4].map((i) => [user(40 + 2 * i), user(41 + 2 * i)] as const);
    await db.query(`
      INSERT INTO users (id, email)
      SELECT ('b5800000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'pair' || g || '@example.com'
        FROM generate_series(40, 49) g;
      INSERT INTO posts (tenant_id, user_id, content)
      SELECT '${A}', ('b5800000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'pair post'
        FROM generate_series(40, 49) g, generate_series(1, 10);
      INSERT INTO post_likes (post_id, user_id)
      SELECT p.id, ('b5800000-0000-4000-8000-' || lpad((m # 1)::text, 12, '0'))::uuid
        FROM posts p, LATERAL (SELECT right(p.user_id::text, 12)::int AS m) n
       WHERE p.content = 'pair post';`);
    const erased = await Promise.allSettled(
      pairs.flat().map((id) => db.query("SELECT private.erase_user($1)", [id])),
    );
    expect(erased.filter((r) => r.status === "rejected")).toEqual([]);
    const left = await db.query(
      "SELECT count(*)::int AS n FROM post_likes l JOIN posts p ON p.id = l.post_id WHERE p.content = 'pair post'",
    );
    expect(left).toEqual([{ n: 0 }]);
  });

  it("erases a user while a content batch edits a post they liked and one of theirs, failing neither", async () => {
    // A batch locks posts in id order (db/migrations/0019): here the liked one sorts first.
    const [LIKED_FIRST, THEIRS_SECOND] = [post(0xa1), post(0xa2)];
    const ERASED = user(60);
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${ERASED}', 'erased60@example.com');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${ERASED}');
      INSERT INTO posts (id, tenant_id, user_id, content) VALUES
        ('${LIKED_FIRST}', '${A}', '${ANN}', 'liked first'), ('${THEIRS_SECOND}', '${A}', '${ERASED}', 'theirs');
      INSERT INTO post_likes (post_id, user_id) VALUES ('${LIKED_FIRST}', '${ERASED}');`);
    expect(await eraseWhileBatchEdits(db, ERASED, LIKED_FIRST, THEIRS_SECOND)).toEqual(["edited", "erased"]);
    expect(await db.query("SELECT total_likes FROM posts WHERE id = $1", [LIKED_FIRST])).toEqual([
      { total_likes: 0 },
    ]);
  });

  it("answers 404 for a post deleted outright while the like was being made", async () => {
    // The like reads the post, then waits for the deletion's lock to check its foreign key.
    const liked = await whileUncommitted(db, "DELETE FROM posts WHERE id = $1", [VANISHING], () =>
      like(BEN, VANISHING),
    );
    expect([liked.status, (liked.body as ErrorBody).error.code]).toEqual([404, "not_found"]);
  });
});

describe("who may like", () => {
  it("keeps each community's posts to its members: 403 for a stranger, 404 for another's post or a deleted one", async () => {
    // CAT is B's member only.
    expect(await errorOf(await like(CAT, LIKED))).toEqual([403, "forbidden"]);
    expect(await errorOf(await like(CAT, post(99)))).toEqual([403, "forbidden"]);
    expect(await errorOf(await call("GET", `/v1/posts/${LIKED}/likes`, CAT))).toEqual([403, "forbidden"]);
    expect(await errorOf(await like(ANN, B_POST))).toEqual([404, "not_found"]);
    expect(await errorOf(await like(ANN, DELETED))).toEqual([404, "not_found"]);
    expect(await errorOf(await unlike(ANN, DELETED))).toEqual([404, "not_found"]);
    expect(await errorOf(await call("GET", `/v1/posts/${B_POST}/likes`, ANN))).toEqual([404, "not_found"]);
    // Through its own community, B's member likes B's post.
    expect((await like(CAT, B_POST, "likes-b")).status).toBe(200);
    const rows = await db.query("SELECT user_id FROM post_likes WHERE post_id = $1", [B_POST]);
    expect(rows).toEqual([{ user_id: CAT }]);
  });

  it("answers a post id or cursor it cannot read with a JSON 400", async () => {
    expect(await errorOf(await like(ANN, "not-a-uuid"))).toEqual([400, "validation_failed"]);
    expect(await errorOf(await call("GET", `/v1/posts/${LIKED}/likes?cursor=nope`, ANN))).toEqual([
      400,
      "validation_failed",
    ]);
    expect(await errorOf(await call("GET", `/v1/posts/${LIKED}/likes?limit=0`, ANN))).toEqual([
      400,
      "validation_failed",
    ]);
  });
});

describe("without a database", () => {
  it("answers 503 with Retry-After, quickly", async () => {
    await likesOf(ANN, LIKED);
    const down = { LOCAL_DB_PROXY: UNREACHABLE_PROXY };
    for (const [method, path] of [
      ["PUT", `/v1/posts/${LIKED}/like`],
      ["DELETE", `/v1/posts/${LIKED}/like`],
      ["GET", `/v1/posts/${LIKED}/likes`],
    ] as const) {
      await expectUnavailableQuickly(path, () => call(method, path, ANN, "likes-a", down));
    }
  });
});
