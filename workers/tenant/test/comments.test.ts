import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../common/db";
import type { ErrorBody } from "../../common/errors";
import {
  eraseWhileBatchEdits,
  UNREACHABLE_PROXY,
  useWorkerTestDatabase,
  type WorkerTestDb,
  whileUncommitted,
} from "../../test-support/db";
import { expectUnavailableQuickly, requestAs } from "../../test-support/requests";
import type { Comment } from "../src/comments/queries";
import worker from "../src/index";

let db: WorkerTestDb;
const A = "a5900000-0000-4000-8000-000000000001";
const B = "a5900000-0000-4000-8000-000000000002";
const user = (n: number) => `b5900000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const post = (n: number) => `c5900000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const [ANN, BEN, CAT, DAN, MOD] = [1, 2, 3, 4, 5].map(user) as [string, string, string, string, string];
/** A's members who comment on one post all at once: ids 11 to 30. */
const CROWD = Array.from({ length: 20 }, (_, i) => user(11 + i));
const TALKED = post(1); // A's, by ANN
const B_POST = post(2); // B's, by CAT
const DELETED = post(3); // A's, deleted
const PAGED = post(4); // A's
const BUSY = post(5); // A's
const ERASED = post(6); // A's
const MODERATED = post(7); // A's
const VANISHING = post(8); // A's, deleted outright while commented on
const QUIET = post(9); // A's, by DAN, who muted comments

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${A}', 'comments-a', 'Comments A'), ('${B}', 'comments-b', 'Comments B');
    INSERT INTO users (id, email, display_name)
    SELECT ('b5900000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'commenter' || g || '@example.com',
           CASE WHEN g = 4 THEN NULL ELSE 'Commenter ' || g END
      FROM generate_series(1, 30) g;
    INSERT INTO tenant_users (tenant_id, user_id, role)
    SELECT '${A}', ('b5900000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
           CASE WHEN g = 5 THEN 'moderator' ELSE 'member' END
      FROM generate_series(1, 30) g WHERE g <> 3;
    INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${B}', '${CAT}');
    UPDATE tenant_users SET notification_preferences = '{"muted_types": ["post_commented"]}'
     WHERE tenant_id = '${A}' AND user_id = '${DAN}';
    INSERT INTO posts (id, tenant_id, user_id, content, deleted_at) VALUES
      ('${TALKED}', '${A}', '${ANN}', 'talked', NULL), ('${B_POST}', '${B}', '${CAT}', 'b only', NULL),
      ('${DELETED}', '${A}', '${ANN}', 'gone', now()), ('${PAGED}', '${A}', '${ANN}', 'paged', NULL),
      ('${BUSY}', '${A}', '${ANN}', 'busy', NULL), ('${ERASED}', '${A}', '${ANN}', 'erased', NULL),
      ('${MODERATED}', '${A}', '${ANN}', 'moderated', NULL), ('${VANISHING}', '${A}', '${ANN}', 'vanishing', NULL),
      ('${QUIET}', '${A}', '${DAN}', 'quiet', NULL);
  `);
});

interface Comments {
  comments: number;
  items: Comment[];
  next_cursor: string | null;
}

const call = (
  method: string,
  path: string,
  who: string,
  extra: { tenant?: string; body?: unknown; headers?: Record<string, string> } = {},
) =>
  requestAs(
    worker,
    {
      method,
      path,
      who,
      host: `${extra.tenant ?? "comments-a"}.localhost`,
      body: extra.body,
      headers: extra.headers,
    },
    { DATABASE_URL: db.url },
  );

const comment = (who: string, id: string, content: string, extra: { tenant?: string; key?: string } = {}) =>
  call("POST", `/v1/posts/${id}/comments`, who, {
    tenant: extra.tenant,
    body: { content },
    headers: extra.key ? { "idempotency-key": extra.key } : {},
  });
const commented = async (who: string, id: string, content: string) => {
  const res = await comment(who, id, content);
  expect(res.status).toBe(201);
  return (await res.json()) as Comment;
};
const remove = (who: string, id: string, commentId: string) =>
  call("DELETE", `/v1/posts/${id}/comments/${commentId}`, who);
const commentsOf = async (who: string, id: string, query = "") => {
  const res = await call("GET", `/v1/posts/${id}/comments${query}`, who);
  expect(res.status).toBe(200);
  return (await res.json()) as Comments;
};
/** The post's count as GET /v1/posts/{id} and the feed show it, and the rows behind it. */
const counted = async (id: string) => {
  const one = (await (await call("GET", `/v1/posts/${id}`, ANN)).json()) as { comments: number };
  const feed = (await (await call("GET", "/v1/feed?limit=100", ANN, { tenant: "api" })).json()) as {
    items: { id: string; comments: number }[];
  };
  const [row] = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM post_comments WHERE post_id = $1",
    [id],
  );
  return { one: one.comments, feed: feed.items.find((item) => item.id === id)?.comments, rows: row?.n };
};
const noticesTo = (who: string) =>
  db.query<{ type: string; title: string; message: string; data: Record<string, string> }>(
    "SELECT type, title, message, data FROM notifications WHERE user_id = $1 AND type = 'post_commented' ORDER BY created_at",
    [who],
  );

const errorOf = async (res: Response) => [res.status, ((await res.json()) as ErrorBody).error.code];

describe("commenting on a post", () => {
  it("shows a member's comment to the community, oldest first, and counts it on the post and in the feed", async () => {
    const first = await commented(BEN, TALKED, "First!");
    expect(first).toEqual({
      id: expect.any(String),
      post_id: TALKED,
      user_id: BEN,
      display_name: "Commenter 2",
      content: "First!",
      created_at: expect.any(String),
    });
    // The author may comment on their own; a member without a display name is shown null.
    const second = await commented(ANN, TALKED, "Thanks");
    const third = await commented(DAN, TALKED, "Me too");
    expect(await commentsOf(MOD, TALKED)).toEqual({
      comments: 3,
      items: [first, second, { ...third, display_name: null }],
      next_cursor: null,
    });
    expect(await counted(TALKED)).toEqual({ one: 3, feed: 3, rows: 3 });
  });

  it("tells the post's author of others' comments, once each, but not of their own or when they muted it", async () => {
    await commented(BEN, PAGED, "Nice route");
    await commented(ANN, PAGED, "Thanks, Ben");
    const notices = await noticesTo(ANN);
    expect(notices.filter((n) => n.data.post_id === PAGED)).toEqual([
      {
        type: "post_commented",
        title: "Commenter 2 commented on your post",
        message: "Nice route",
        data: { post_id: PAGED, comment_id: expect.any(String), user_id: BEN },
      },
    ]);
    // DAN muted comments on his posts: the comment is made, he is not told.
    await commented(BEN, QUIET, "Hello?");
    expect(await noticesTo(DAN)).toEqual([]);
  });

  it("takes the notice of a comment, which holds its words, out of the author's inbox when it is deleted or its writer erased", async () => {
    const NOTICED = post(11);
    const writer = user(61);
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${writer}', 'writer61@example.com');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${writer}');
      INSERT INTO posts (id, tenant_id, user_id, content) VALUES ('${NOTICED}', '${A}', '${ANN}', 'noticed');`);
    const [taken, moderated, erased, kept] = [
      await commented(BEN, NOTICED, "said, then taken back"),
      await commented(BEN, NOTICED, "taken down"),
      await commented(writer, NOTICED, "by one erased"),
      await commented(BEN, NOTICED, "kept"),
    ];
    const told = async () =>
      (await noticesTo(ANN)).filter((n) => n.data.post_id === NOTICED).map((n) => n.data.comment_id);
    expect(await told()).toEqual([taken.id, moderated.id, erased.id, kept.id]);
    expect((await remove(BEN, NOTICED, taken.id)).status).toBe(204);
    expect((await remove(MOD, NOTICED, moderated.id)).status).toBe(204);
    await db.query("SELECT private.erase_user($1)", [writer]);
    expect(await told()).toEqual([kept.id]);
  });

  it("takes the notice of a comment its writer made while being erased, with the comment", async () => {
    // The comment and its notice are written, uncommitted, when the erasure begins: it waits for
    // them on the writer's row, then its cascade takes the comment. A notice deleted by the
    // erasure itself, before that wait, was left.
    const [MIDWAY, writer] = [post(12), user(62)];
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${writer}', 'writer62@example.com');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${writer}');
      INSERT INTO posts (id, tenant_id, user_id, content) VALUES ('${MIDWAY}', '${A}', '${ANN}', 'midway');`);
    const handle = openDb({ DATABASE_URL: db.url, LOCAL_DB_PROXY: env.LOCAL_DB_PROXY });
    const commenting = await handle.pool.connect();
    try {
      await commenting.query("BEGIN");
      const { rows } = await commenting.query<{ id: string }>(
        "INSERT INTO post_comments (post_id, user_id, content) VALUES ($1, $2, 'last words') RETURNING id",
        [MIDWAY, writer],
      );
      await commenting.query(
        `INSERT INTO notifications (job_id, user_id, tenant_id, type, title, message)
         VALUES ($1, $2, $3, 'post_commented', 'Writer commented on your post', 'last words')`,
        [rows[0]?.id, ANN, A],
      );
      const erasing = db.query("SELECT private.erase_user($1)", [writer]);
      await new Promise((r) => setTimeout(r, 300));
      await commenting.query("COMMIT");
      await erasing;
    } finally {
      commenting.release();
      await handle.close();
    }
    expect(
      (await noticesTo(ANN)).filter((n) => n.data.post_id === MIDWAY || n.message === "last words"),
    ).toEqual([]);
    expect(await counted(MIDWAY)).toMatchObject({ one: 0, rows: 0 });
  });

  it("makes one comment, and tells its author once, for a request repeated with its Idempotency-Key", async () => {
    const sent = await Promise.all([1, 2].map(() => comment(BEN, BUSY, "once", { key: "comment-once" })));
    const bodies = await Promise.all(sent.map((r) => r.json() as Promise<Comment | ErrorBody>));
    // Both at once: one makes it, the other is made or asked to retry shortly.
    expect(sent.map((r) => r.status).sort()).toSatisfy(
      (s: number[]) => s[0] === 201 && (s[1] === 201 || s[1] === 409),
    );
    const again = await comment(BEN, BUSY, "once", { key: "comment-once" });
    expect([again.status, await again.json()]).toEqual([201, bodies.find((b) => "id" in b)]);
    expect(await counted(BUSY)).toMatchObject({ one: 1, rows: 1 });
    expect((await noticesTo(ANN)).filter((n) => n.data.post_id === BUSY)).toHaveLength(1);
    // The same key with another comment is refused, never taken for the first.
    expect(await errorOf(await comment(BEN, BUSY, "another", { key: "comment-once" }))).toEqual([
      422,
      "idempotency_key_reused",
    ]);
  });

  it("counts every comment of many members commenting at once, and every deletion", async () => {
    const made = await Promise.all(CROWD.map((who) => commented(who, BUSY, `from ${who}`)));
    expect(await counted(BUSY)).toEqual({ one: 21, feed: 21, rows: 21 });
    const half = made.slice(0, 10);
    const gone = await Promise.all(half.map((c) => remove(c.user_id, BUSY, c.id)));
    expect(gone.map((r) => r.status)).toEqual(half.map(() => 204));
    expect(await counted(BUSY)).toEqual({ one: 11, feed: 11, rows: 11 });
  });

  it("pages a post's comments oldest first, each once, however many share an instant", async () => {
    await db.query(`
      INSERT INTO post_comments (post_id, user_id, content, created_at)
      SELECT '${PAGED}', '${BEN}', 'paged ' || g, '2026-01-01T00:00:00Z'::timestamptz + make_interval(secs => g / 3)
        FROM generate_series(1, 11) g`);
    const all = (await commentsOf(ANN, PAGED, "?limit=200")).items;
    const seen: string[] = [];
    let query = "?limit=2";
    for (;;) {
      const page = await commentsOf(ANN, PAGED, query);
      seen.push(...page.items.map((c) => c.id));
      if (!page.next_cursor) break;
      query = `?limit=2&cursor=${page.next_cursor}`;
    }
    expect(seen).toEqual(all.map((c) => c.id));
    expect(new Set(seen).size).toBe(13);
    const times = all.map((c) => Date.parse(c.created_at));
    expect(times).toEqual([...times].sort((x, y) => x - y));
  });

  it("keeps the comment of a member who left, and counts off an erased user's", async () => {
    await commented(BEN, ERASED, "stays");
    const erasedOne = user(21);
    await commented(erasedOne, ERASED, "goes");
    await db.query(`DELETE FROM tenant_users WHERE tenant_id = '${A}' AND user_id = '${BEN}'`);
    expect((await commentsOf(ANN, ERASED)).items.map((c) => c.content)).toEqual(["stays", "goes"]);
    await db.query("SELECT private.erase_user($1)", [erasedOne]);
    expect(await commentsOf(ANN, ERASED)).toMatchObject({ comments: 1, items: [{ content: "stays" }] });
    await db.query(`INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${BEN}')`);
  });

  it("lets one who left the community delete their own comment, and nothing more there", async () => {
    const [theirs, another] = [
      await commented(DAN, TALKED, "taken back"),
      await commented(BEN, TALKED, "not his"),
    ];
    const before = (await commentsOf(ANN, TALKED)).comments;
    await db.query(`DELETE FROM tenant_users WHERE tenant_id = '${A}' AND user_id = '${DAN}'`);
    try {
      expect(await errorOf(await remove(DAN, TALKED, another.id))).toEqual([403, "forbidden"]);
      expect(await errorOf(await remove(DAN, TALKED, user(99)))).toEqual([403, "forbidden"]);
      expect((await remove(DAN, TALKED, theirs.id)).status).toBe(204);
      expect(await errorOf(await remove(DAN, TALKED, theirs.id))).toEqual([403, "forbidden"]);
      expect(await errorOf(await comment(DAN, TALKED, "back?"))).toEqual([403, "forbidden"]);
      expect(await errorOf(await call("GET", `/v1/posts/${TALKED}/comments`, DAN))).toEqual([
        403,
        "forbidden",
      ]);
    } finally {
      await db.query(`INSERT INTO tenant_users (tenant_id, user_id, notification_preferences)
                      VALUES ('${A}', '${DAN}', '{"muted_types": ["post_commented"]}')`);
    }
    expect((await commentsOf(ANN, TALKED)).comments).toBe(before - 1);
  });

  it("leaves the post's updated_at, which orders its queued edits, as it was", async () => {
    const before = await db.query("SELECT updated_at::text FROM posts WHERE id = $1", [MODERATED]);
    const made = await commented(BEN, MODERATED, "no edit");
    expect((await remove(BEN, MODERATED, made.id)).status).toBe(204);
    expect(await db.query("SELECT updated_at::text FROM posts WHERE id = $1", [MODERATED])).toEqual(before);
  });

  it("answers 404 for a post deleted outright while the comment was being made", async () => {
    const made = await whileUncommitted(db, "DELETE FROM posts WHERE id = $1", [VANISHING], () =>
      comment(BEN, VANISHING, "too late"),
    );
    expect([made.status, (made.body as ErrorBody).error.code]).toEqual([404, "not_found"]);
  });

  it("erases a user while a content batch edits a post they commented on and one of theirs, failing neither", async () => {
    // A batch locks posts in id order (db/migrations/0019): here the commented one sorts first.
    const [COMMENTED_FIRST, THEIRS_SECOND] = [post(0xa1), post(0xa2)];
    const GONE = user(60);
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${GONE}', 'erased60@example.com');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${GONE}');
      INSERT INTO posts (id, tenant_id, user_id, content) VALUES
        ('${COMMENTED_FIRST}', '${A}', '${ANN}', 'commented first'), ('${THEIRS_SECOND}', '${A}', '${GONE}', 'theirs');
      INSERT INTO post_comments (post_id, user_id, content) VALUES ('${COMMENTED_FIRST}', '${GONE}', 'bye');`);
    expect(await eraseWhileBatchEdits(db, GONE, COMMENTED_FIRST, THEIRS_SECOND)).toEqual([
      "edited",
      "erased",
    ]);
    expect(await db.query("SELECT total_comments FROM posts WHERE id = $1", [COMMENTED_FIRST])).toEqual([
      { total_comments: 0 },
    ]);
  });
});

describe("who may comment, and delete comments", () => {
  it("keeps each community's posts to its members: 403 for a stranger, 404 for another's post or a deleted one", async () => {
    // CAT is B's member only.
    expect(await errorOf(await comment(CAT, TALKED, "hi"))).toEqual([403, "forbidden"]);
    expect(await errorOf(await comment(CAT, post(99), "hi"))).toEqual([403, "forbidden"]);
    expect(await errorOf(await call("GET", `/v1/posts/${TALKED}/comments`, CAT))).toEqual([403, "forbidden"]);
    expect(await errorOf(await comment(ANN, B_POST, "hi"))).toEqual([404, "not_found"]);
    expect(await errorOf(await comment(ANN, DELETED, "hi"))).toEqual([404, "not_found"]);
    expect(await errorOf(await call("GET", `/v1/posts/${DELETED}/comments`, ANN))).toEqual([
      404,
      "not_found",
    ]);
    // Through its own community, B's member comments on B's post.
    expect((await comment(CAT, B_POST, "mine", { tenant: "comments-b" })).status).toBe(201);
    const rows = await db.query("SELECT user_id FROM post_comments WHERE post_id = $1", [B_POST]);
    expect(rows).toEqual([{ user_id: CAT }]);
  });

  it("lets its author, a moderator or an admin delete a comment, and no other member", async () => {
    const [byBen, byDan, third] = [
      await commented(BEN, MODERATED, "ben's"),
      await commented(DAN, MODERATED, "dan's"),
      await commented(DAN, MODERATED, "dan's again"),
    ];
    // ANN wrote the post, but the comment is BEN's words: hers to report, not to delete.
    expect(await errorOf(await remove(ANN, MODERATED, byBen.id))).toEqual([403, "forbidden"]);
    expect((await remove(BEN, MODERATED, byBen.id)).status).toBe(204);
    expect(await errorOf(await remove(BEN, MODERATED, byBen.id))).toEqual([404, "not_found"]);
    expect((await remove(MOD, MODERATED, byDan.id)).status).toBe(204);
    await db.query(`UPDATE tenant_users SET is_admin = true WHERE tenant_id = '${A}' AND user_id = '${ANN}'`);
    try {
      expect((await remove(ANN, MODERATED, third.id)).status).toBe(204);
    } finally {
      await db.query(
        `UPDATE tenant_users SET is_admin = false WHERE tenant_id = '${A}' AND user_id = '${ANN}'`,
      );
    }
    expect(await commentsOf(ANN, MODERATED)).toMatchObject({ comments: 0, items: [] });
    // A comment of another post, through this one: not there.
    const elsewhere = await commented(BEN, TALKED, "elsewhere");
    expect(await errorOf(await remove(BEN, MODERATED, elsewhere.id))).toEqual([404, "not_found"]);
    expect(await errorOf(await remove(CAT, MODERATED, elsewhere.id))).toEqual([403, "forbidden"]);
  });

  it("answers what it cannot read with a JSON 400, and a comment over its size likewise", async () => {
    expect(await errorOf(await comment(ANN, "not-a-uuid", "hi"))).toEqual([400, "validation_failed"]);
    expect(await errorOf(await comment(ANN, TALKED, ""))).toEqual([400, "validation_failed"]);
    expect(await errorOf(await comment(ANN, TALKED, "x".repeat(4001)))).toEqual([400, "validation_failed"]);
    const extra = await call("POST", `/v1/posts/${TALKED}/comments`, ANN, {
      body: { content: "hi", user_id: BEN },
    });
    expect(await errorOf(extra)).toEqual([400, "validation_failed"]);
    expect(await errorOf(await call("GET", `/v1/posts/${TALKED}/comments?cursor=nope`, ANN))).toEqual([
      400,
      "invalid_cursor",
    ]);
    expect(await errorOf(await remove(ANN, TALKED, "nope"))).toEqual([400, "validation_failed"]);
  });
});

describe("without a database", () => {
  it("answers 503 with Retry-After, quickly, on each comment route", async () => {
    const made = await commented(BEN, TALKED, "before the outage");
    const down = { LOCAL_DB_PROXY: UNREACHABLE_PROXY };
    for (const [method, path, body] of [
      ["POST", `/v1/posts/${TALKED}/comments`, { content: "during the outage" }],
      ["GET", `/v1/posts/${TALKED}/comments`, undefined],
      ["DELETE", `/v1/posts/${TALKED}/comments/${made.id}`, undefined],
    ] as const) {
      await expectUnavailableQuickly(path, () =>
        requestAs(
          worker,
          { method, path, who: BEN, host: "comments-a.localhost", body },
          { DATABASE_URL: db.url, ...down },
        ),
      );
    }
  });
});
