import { env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { openKeysetSql, openSql } from "../../common/db";
import type { ErrorBody } from "../../common/errors";
import {
  explainedNodes,
  planNodes,
  rowsReadOf,
  UNREACHABLE_PROXY,
  useWorkerTestDatabase,
  type WorkerTestDb,
} from "../../test-support/db";
import { loggedLines } from "../../test-support/logs";
import { readAround } from "../../test-support/requests";
import { childQueries, PAGE_BYTES, tableQueries } from "../src/exports/stream";
import { COMMUNITY_SECTIONS, communityExport, tenantExportHead } from "../src/tenancy/export";
import { exportRequests, exportThroughPager, pagePlans } from "./export-support";

let db: WorkerTestDb;
const A = "a5700000-0000-4000-8000-000000000001";
const B = "a5700000-0000-4000-8000-000000000002";
const OFF = "a5700000-0000-4000-8000-000000000003";
const PAGED = "a5700000-0000-4000-8000-000000000004";
const ANN = "b5700000-0000-4000-8000-000000000001";
const BOB = "b5700000-0000-4000-8000-000000000002";
const POST = "c5700000-0000-4000-8000-000000000001";
const GONE_POST = "c5700000-0000-4000-8000-000000000002";
const B_POST = "c5700000-0000-4000-8000-000000000003";
const EVENT = "d5700000-0000-4000-8000-000000000001";
const JOURNEY = "e5700000-0000-4000-8000-000000000001";
const PRIVATE_JOURNEY = "e5700000-0000-4000-8000-000000000002";
/** A post of PAGED's with more comments than two pages hold (200 a page). */
const HOT = "c5700000-0000-4000-8000-0000000000ff";
const HOT_COMMENTS = 450;
/** Posts over several pages (of 1,000 comments or posts without), a few of them commented on. */
const SPARSE = "a5700000-0000-4000-8000-000000000005";
const SPARSE_POSTS = 3_000;
const COMMENTED = [1, 1_000, 1_001, SPARSE_POSTS];

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name, is_active) VALUES
      ('${A}', 'texport-a', 'Export A', true), ('${B}', 'texport-b', 'Export B', true),
      ('${OFF}', 'texport-off', 'Export Off', false), ('${PAGED}', 'texport-paged', 'Export Paged', true);
    INSERT INTO users (id, email, display_name) VALUES
      ('${ANN}', 'ann@texport.test', 'Ann'), ('${BOB}', 'bob@texport.test', 'Bob');
    INSERT INTO tenant_users (tenant_id, user_id, role) VALUES
      ('${A}', '${ANN}', 'owner'), ('${A}', '${BOB}', 'member'), ('${B}', '${BOB}', 'member'), ('${OFF}', '${ANN}', 'member');
    INSERT INTO posts (id, tenant_id, user_id, content, deleted_at) VALUES
      ('${POST}', '${A}', '${ANN}', 'a live', NULL), ('${GONE_POST}', '${A}', '${ANN}', 'a deleted', now()),
      ('${B_POST}', '${B}', '${BOB}', 'b only', NULL);
    INSERT INTO posts (tenant_id, user_id, content) VALUES ('${OFF}', '${ANN}', 'off live');
    INSERT INTO post_comments (post_id, user_id, content) VALUES
      ('${POST}', '${BOB}', 'a comment'), ('${GONE_POST}', '${BOB}', 'on a deleted post'), ('${B_POST}', '${BOB}', 'b comment');
    INSERT INTO post_likes (post_id, user_id) VALUES ('${POST}', '${BOB}'), ('${B_POST}', '${BOB}');
    INSERT INTO content_sharing (content_type, content_id, source_tenant_id, target_tenant_id, shared_by) VALUES
      ('posts', '${POST}', '${A}', '${B}', '${ANN}'), ('posts', '${B_POST}', '${B}', '${A}', '${BOB}');
    INSERT INTO events (id, tenant_id, created_by, title, start_date) VALUES
      ('${EVENT}', '${A}', '${ANN}', 'a event', now() + interval '1 week');
    INSERT INTO events (tenant_id, created_by, title, start_date, deleted_at) VALUES
      ('${A}', '${ANN}', 'a deleted event', now() + interval '2 weeks', now()),
      ('${B}', '${BOB}', 'b event', now() + interval '1 week', NULL);
    INSERT INTO event_attendees (event_id, user_id, status) VALUES ('${EVENT}', '${BOB}', 'going');
    INSERT INTO content_sharing (content_type, content_id, source_tenant_id, target_tenant_id, shared_by) VALUES
      ('events', '${EVENT}', '${A}', '${B}', '${ANN}');
    INSERT INTO user_journeys (id, tenant_id, user_id, title, is_public) VALUES
      ('${JOURNEY}', '${A}', '${ANN}', 'public trip', true), ('${PRIVATE_JOURNEY}', '${A}', '${BOB}', 'private trip', false);
    INSERT INTO journey_activities (journey_id, tenant_id, activity_type, title, start_datetime) VALUES
      ('${JOURNEY}', '${A}', 'walk', 'day two', '2027-07-02T08:00:00Z'), ('${JOURNEY}', '${A}', 'walk', 'day one', '2027-07-01T08:00:00Z'),
      ('${PRIVATE_JOURNEY}', '${A}', 'walk', 'private day', '2027-07-01T08:00:00Z');
    INSERT INTO analytics_events (job_id, user_id, tenant_id, event_type, created_at) VALUES
      (gen_random_uuid(), '${ANN}', '${A}', 'a view', now()), (gen_random_uuid(), '${BOB}', '${B}', 'b view', now());
    INSERT INTO notifications (job_id, user_id, tenant_id, type, title, message) VALUES
      (gen_random_uuid(), '${BOB}', '${A}', 'info', 'an inbox', 'x');
  `);
  // A larger community, for pages of a few rows to cross every kind of boundary: one post's
  // 450 comments and 520 likes, journeys of seven activities, analytics events of one instant
  // (one statement's now()), which the key's id alone orders.
  await db.query(`
    INSERT INTO users (id, email) SELECT ('b5700000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'u' || g || '@texport.test'
      FROM generate_series(256, 256 + 519) g;
    INSERT INTO tenant_users (tenant_id, user_id) SELECT '${PAGED}', id FROM users WHERE email LIKE 'u%@texport.test';
    INSERT INTO posts (tenant_id, user_id, content, created_at)
      SELECT '${PAGED}', '${ANN}', 'paged ' || g, now() - make_interval(secs => g) FROM generate_series(1, 120) g;
    INSERT INTO posts (id, tenant_id, user_id, content) VALUES ('${HOT}', '${PAGED}', '${ANN}', 'hot');
    INSERT INTO post_comments (post_id, user_id, content) SELECT id, '${ANN}', 'c' FROM posts WHERE content LIKE 'paged %';
    INSERT INTO post_comments (post_id, user_id, content, created_at)
      SELECT '${HOT}', '${ANN}', 'hot ' || g, now() + make_interval(secs => g) FROM generate_series(1, ${HOT_COMMENTS}) g;
    INSERT INTO post_likes (post_id, user_id) SELECT '${HOT}', user_id FROM tenant_users WHERE tenant_id = '${PAGED}';
    INSERT INTO events (tenant_id, created_by, title, start_date)
      SELECT '${PAGED}', '${ANN}', 'paged ' || g, now() + make_interval(days => g) FROM generate_series(1, 60) g;
    INSERT INTO event_attendees (event_id, user_id, status)
      SELECT e.id, tu.user_id, 'going' FROM events e, tenant_users tu
       WHERE e.tenant_id = '${PAGED}' AND e.title IN ('paged 1', 'paged 2') AND tu.tenant_id = '${PAGED}';
    INSERT INTO user_journeys (tenant_id, user_id, title, is_public)
      SELECT '${PAGED}', '${ANN}', 'trip ' || g, true FROM generate_series(1, 20) g;
    INSERT INTO journey_activities (journey_id, tenant_id, activity_type, title, start_datetime)
      SELECT j.id, '${PAGED}', 'walk', j.title || ' day ' || g, '2027-07-01T08:00:00Z'::timestamptz + make_interval(days => g)
        FROM user_journeys j, generate_series(1, 7) g WHERE j.tenant_id = '${PAGED}';
    INSERT INTO analytics_events (job_id, user_id, tenant_id, event_type)
      SELECT gen_random_uuid(), '${ANN}', '${PAGED}', 'view' FROM generate_series(1, 1203);
  `);
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${SPARSE}', 'texport-sparse', 'Export Sparse');
    INSERT INTO posts (tenant_id, user_id, content, created_at)
      SELECT '${SPARSE}', '${ANN}', 'sparse ' || g, now() - make_interval(secs => g) FROM generate_series(1, ${SPARSE_POSTS}) g;
    INSERT INTO post_comments (post_id, user_id, content)
      SELECT id, '${BOB}', 'on ' || content FROM posts
       WHERE content IN (${COMMENTED.map((n) => `'sparse ${n}'`).join(", ")});
    INSERT INTO post_likes (post_id, user_id) SELECT id, '${BOB}' FROM posts WHERE content = 'sparse ${SPARSE_POSTS}';
  `);
});

const { start: startExport, read: exportOf } = exportRequests(
  () => db,
  (id) => `http://api.localhost/admin/tenants/${id}/export`,
  { "cf-connecting-ip": "198.51.100.201" },
);

type Rows = Record<string, unknown>[];
type Export = { tenant: Record<string, unknown> } & Record<
  | "members"
  | "posts"
  | "post_comments"
  | "post_likes"
  | "post_shares"
  | "events"
  | "event_answers"
  | "event_shares"
  | "journeys"
  | "journey_activities"
  | "analytics_events",
  Rows
>;

const pick = (rows: Rows, key: string) => rows.map((r) => r[key]).sort();

describe("GET /admin/tenants/{id}/export", () => {
  it("holds the community's live content, members and usage, each row whole, and nothing of another's", async () => {
    const { res, body } = await exportOf(A);
    expect([res.status, res.headers.get("cache-control"), res.headers.get("content-disposition")]).toEqual([
      200,
      "no-store",
      `attachment; filename="tenant-${A}.json"`,
    ]);
    const got = JSON.parse(body) as Export;
    expect(got).toMatchObject({
      tenant: { id: A, slug: "texport-a", is_active: true },
      complete: true,
      not_included: {
        deleted_content: expect.any(String),
        private_journeys: expect.any(String),
        notifications: expect.any(String),
      },
    });
    expect(got.members).toEqual([
      expect.objectContaining({
        user_id: ANN,
        role: "owner",
        email: "ann@texport.test",
        display_name: "Ann",
      }),
      expect.objectContaining({ user_id: BOB, role: "member", email: "bob@texport.test" }),
    ]);
    expect(pick(got.posts, "id")).toEqual([POST]);
    expect(got.posts[0]).toMatchObject({ content: "a live", total_likes: 1, total_comments: 1 });
    expect(pick(got.post_comments, "content")).toEqual(["a comment"]);
    expect(got.post_likes).toEqual([expect.objectContaining({ post_id: POST, user_id: BOB })]);
    // Where its post went; not the post another community shared into it.
    expect(got.post_shares).toEqual([expect.objectContaining({ content_id: POST, target_tenant_id: B })]);
    expect(pick(got.events, "id")).toEqual([EVENT]);
    expect(got.event_answers).toEqual([
      expect.objectContaining({ event_id: EVENT, user_id: BOB, status: "going" }),
    ]);
    expect(got.event_shares).toEqual([expect.objectContaining({ content_id: EVENT, target_tenant_id: B })]);
    expect(pick(got.journeys, "id")).toEqual([JOURNEY]);
    expect(got.journey_activities.map((a) => a.title)).toEqual(["day one", "day two"]);
    expect(pick(got.analytics_events, "event_type")).toEqual(["a view"]);
    for (const elsewhere of [
      "b only",
      "b comment",
      "b event",
      "b view",
      "a deleted",
      "on a deleted post",
      "private trip",
      "private day",
      "an inbox",
    ]) {
      expect(body).not.toContain(elsewhere);
    }
  });

  it("exports a deactivated community but not one being erased, and answers 404 for none, 401 without the admin token", async () => {
    const off = await exportOf(OFF);
    expect(off.res.status).toBe(200);
    const got = JSON.parse(off.body) as Export;
    expect([got.tenant.is_active, pick(got.posts, "content"), got.members.length]).toEqual([
      false,
      ["off live"],
      1,
    ]);

    // Once its erasure is asked for, what is already erased would be missing.
    await db.query("UPDATE tenants SET erasure_requested_at = now() WHERE id = $1", [OFF]);
    try {
      const erasing = await exportOf(OFF);
      expect([erasing.res.status, (JSON.parse(erasing.body) as ErrorBody).error.code]).toEqual([
        409,
        "conflict",
      ]);
    } finally {
      await db.query("UPDATE tenants SET erasure_requested_at = NULL WHERE id = $1", [OFF]);
    }

    const none = await exportOf("a5700000-0000-4000-8000-0000000000ff");
    expect([none.res.status, (JSON.parse(none.body) as ErrorBody).error.code]).toEqual([404, "not_found"]);
    const anonymous = await exportOf(A, { authorization: "" });
    expect(anonymous.res.status).toBe(401);
  });

  it("holds every row of a larger community once, in order", async () => {
    const { res, body } = await exportOf(PAGED);
    expect(res.status).toBe(200);
    const got = JSON.parse(body) as Export;
    const counts = (name: string, key: (row: Record<string, unknown>) => unknown) => {
      const rows = got[name as keyof Export] as Rows;
      return [rows.length, new Set(rows.map(key)).size];
    };
    expect({
      members: counts("members", (r) => r.user_id),
      posts: counts("posts", (r) => r.id),
      post_comments: counts("post_comments", (r) => r.id),
      post_likes: counts("post_likes", (r) => r.user_id),
      events: counts("events", (r) => r.id),
      event_answers: counts("event_answers", (r) => `${r.event_id} ${r.user_id}`),
      journeys: counts("journeys", (r) => r.id),
      journey_activities: counts("journey_activities", (r) => r.id),
      analytics_events: counts("analytics_events", (r) => r.id),
    }).toEqual({
      members: [520, 520],
      posts: [121, 121],
      post_comments: [120 + HOT_COMMENTS, 120 + HOT_COMMENTS],
      post_likes: [520, 520],
      events: [60, 60],
      event_answers: [1040, 1040],
      journeys: [20, 20],
      journey_activities: [140, 140],
      analytics_events: [1203, 1203],
    });
    // Newest post first (the hot one), and its comments oldest first, across their pages.
    const hot = got.post_comments.filter((c) => c.post_id === HOT).map((c) => c.content);
    expect([got.posts[0]?.id, hot]).toEqual([
      HOT,
      Array.from({ length: HOT_COMMENTS }, (_, i) => `hot ${i + 1}`),
    ]);
    expect(got.post_comments.slice(0, HOT_COMMENTS).every((c) => c.post_id === HOT)).toBe(true);
    const starts = got.events.map((e) => String(e.start_date));
    expect(starts).toEqual([...starts].sort());
    const instants = got.analytics_events.map((e) => `${e.created_at} ${e.id}`);
    expect(instants).toEqual([...instants].sort());
  });

  it("writes the same document in pages of a few rows as in its own: every boundary crossed, each row once", async () => {
    const head = await tenantExportHead(openSql({ ...env, DATABASE_URL: db.url }), PAGED);
    if (!head.ok) throw new Error("no head");
    const plan = communityExport(PAGED, head.value);
    const whole = await exportThroughPager(db, plan);
    // Pages of 7: the hot post's 450 comments span 65 of them, its 520 likes 75, and pages end
    // inside journeys' activities and among analytics events of one instant.
    expect(await exportThroughPager(db, plan, 7)).toEqual(whole);
    expect((whole.post_comments as unknown[]).length).toBe(120 + HOT_COMMENTS);
  });

  it("stops a page at its text budget, however few rows that is", async () => {
    const big = "a5700000-0000-4000-8000-000000000006";
    await db.query(`
      INSERT INTO tenants (id, slug, name) VALUES ('${big}', 'texport-big', 'Export Big');
      INSERT INTO posts (tenant_id, user_id, content, created_at)
        SELECT '${big}', '${ANN}', repeat('x', 20000), now() - make_interval(secs => g) FROM generate_series(1, 300) g;
    `);
    const posts = COMMUNITY_SECTIONS.find((s) => s.name === "posts");
    if (!posts || "parent" in posts) throw new Error("no posts section");
    const page = await openKeysetSql({ ...env, DATABASE_URL: db.url }).query<{
      doc: string;
      running: string;
    }>(tableQueries(posts).first, [big, posts.size]);
    const text = page.rows.reduce((sum, r) => sum + r.doc.length, 0);
    // Its rows begin within the budget, and the last one ends past it.
    expect([
      page.rows.length < 300,
      text >= PAGE_BYTES,
      text - (page.rows.at(-1)?.doc.length ?? 0) < PAGE_BYTES,
    ]).toEqual([true, true, true]);
    const { res, body } = await exportOf(big);
    expect([res.status, (JSON.parse(body) as Export).posts.length]).toEqual([200, 300]);
  });

  it("walks posts with no comments a page of them a statement, and finds the few that have them", async () => {
    const { res, body } = await exportOf(SPARSE);
    expect(res.status).toBe(200);
    const got = JSON.parse(body) as Export;
    expect([got.posts.length, got.post_comments.map((c) => c.content), got.post_likes.length]).toEqual([
      SPARSE_POSTS,
      COMMENTED.map((n) => `on sparse ${n}`),
      1,
    ]);
    // One statement walks a page of posts (and what an incremental sort reads ahead), not all
    // 3,000 down to the oldest one's comment.
    // Planned with statistics, as a live database plans it.
    await db.query("ANALYZE posts, post_comments");
    const comments = COMMUNITY_SECTIONS.find((s) => s.name === "post_comments");
    if (!comments || !("parent" in comments)) throw new Error("no post_comments section");
    const nodes = await planNodes(db, childQueries(comments).first, [SPARSE, comments.size]);
    expect(rowsReadOf(nodes, "posts")).toBeLessThanOrEqual(comments.size + 64);
  });

  it("reads each page along an index that starts with the community or the parent, never sorting all of them", async () => {
    // Planned as a live database plans it: with statistics, for a community that holds little
    // (one that holds nothing here).
    await db.query("ANALYZE");
    const plans = await pagePlans(db, COMMUNITY_SECTIONS, "a5700000-0000-4000-8000-0000000000aa");
    expect(plans.filter((p) => p.sorts > 0 || !p.seeks)).toEqual([]);
    // Every statement: a table section's first and next pages, a child section's within too.
    const children = COMMUNITY_SECTIONS.filter((s) => "parent" in s).length;
    expect(plans).toHaveLength(COMMUNITY_SECTIONS.length * 2 + children);
  });

  it("reads a page of a post's comments from where the last one ended, not from its first comment", async () => {
    const section = COMMUNITY_SECTIONS.find((s) => s.name === "post_comments");
    if (!section || !("parent" in section)) throw new Error("no post_comments section");
    const last = await db.query<{ created_at: string; id: string }>(
      "SELECT created_at::text, id::text FROM post_comments WHERE post_id = $1 ORDER BY created_at, id OFFSET 399 LIMIT 1",
      [HOT],
    );
    const at = last[0];
    if (!at) throw new Error("no 400th comment");
    const nodes = await planNodes(db, childQueries(section).within, [
      HOT,
      at.created_at,
      at.id,
      section.size,
    ]);
    // The last 50 and the one the bound stops at: not the 400 sent before.
    expect(rowsReadOf(nodes, "post_comments")).toBeLessThanOrEqual(HOT_COMMENTS - 400 + 1);
  });

  it("walks a hot post's comments in order even where statistics say it has few", async () => {
    // Most comments are old and this post's are the newest: the planner multiplies the post's
    // share of comments by the newest comments' share, judges that a page's bound leaves a few
    // hundred, and would read all 5,000 with a bitmap scan and sort them for a page.
    const post = "c5700000-0000-4000-8000-0000000000fe";
    const filler = "c5700000-0000-4000-8000-0000000000fd";
    await db.query(`
      INSERT INTO posts (id, tenant_id, user_id, content) VALUES
        ('${post}', '${PAGED}', '${ANN}', 'suddenly hot'), ('${filler}', '${B}', '${BOB}', 'old news');
      INSERT INTO post_comments (post_id, user_id, content, created_at)
        SELECT '${filler}', '${BOB}', 'old ' || g, now() - interval '1 day' - make_interval(secs => g) FROM generate_series(1, 20000) g;
      INSERT INTO post_comments (post_id, user_id, content, created_at)
        SELECT '${post}', '${ANN}', 'late ' || g, now() + interval '1 day' + make_interval(secs => g) FROM generate_series(1, 6000) g;
      ANALYZE post_comments;
    `);
    try {
      const section = COMMUNITY_SECTIONS.find((s) => s.name === "post_comments");
      if (!section || !("parent" in section)) throw new Error("no post_comments section");
      const [at] = await db.query<{ created_at: string; id: string }>(
        "SELECT created_at::text, id::text FROM post_comments WHERE post_id = $1 ORDER BY created_at, id OFFSET 999 LIMIT 1",
        [post],
      );
      if (!at) throw new Error("no 1,000th comment");
      const explained = await openKeysetSql({ ...env, DATABASE_URL: db.url }).query<{
        "QUERY PLAN": unknown;
      }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${childQueries(section).within}`, [
        post,
        at.created_at,
        at.id,
        section.size,
      ]);
      const nodes = explainedNodes(explained.rows);
      // A page, and the one row past it that the running byte count looks at.
      expect([
        nodes.some((n) => String(n["Node Type"]).startsWith("Bitmap")),
        rowsReadOf(nodes, "post_comments") <= section.size + 1,
      ]).toEqual([false, true]);
    } finally {
      await db.query(`
        DELETE FROM posts WHERE id IN ('${post}', '${filler}');
      `);
    }
  });

  it("is cut off, never complete, when the community's erasure is asked for while it streams", async () => {
    const warnings = vi.spyOn(console, "warn");
    try {
      const { res, ctx } = await startExport(OFF);
      expect(res.status).toBe(200);
      const read = await readAround(res, () =>
        db.query("UPDATE tenants SET erasure_requested_at = now() WHERE id = $1", [OFF]),
      );
      await waitOnExecutionContext(ctx);
      expect(read).toBe("cut");
      expect(loggedLines(warnings)).toContainEqual(
        expect.objectContaining({
          msg: "community export stopped part way; its stream is aborted",
          reason: "the community began to be erased during the export",
          tenant_id: OFF,
        }),
      );
    } finally {
      warnings.mockRestore();
      await db.query("UPDATE tenants SET erasure_requested_at = NULL WHERE id = $1", [OFF]);
    }
  });

  it("answers 503 with Retry-After when the database is down before it starts, and cuts the stream off when it goes part way", async () => {
    const down = await exportOf(A, {}, { LOCAL_DB_PROXY: UNREACHABLE_PROXY });
    expect([down.res.status, down.res.headers.get("retry-after")]).toEqual([503, "5"]);
    await db.query("ALTER TABLE event_attendees RENAME TO event_attendees_away");
    const errors = vi.spyOn(console, "error");
    try {
      const { res, ctx } = await startExport(A);
      expect(res.status).toBe(200);
      await expect(res.text()).rejects.toThrow();
      await waitOnExecutionContext(ctx);
      expect(loggedLines(errors)).toContainEqual(
        expect.objectContaining({
          msg: "community export stopped part way; its stream is aborted",
          section: "event_answers",
          tenant_id: A,
        }),
      );
    } finally {
      errors.mockRestore();
      await db.query("ALTER TABLE event_attendees_away RENAME TO event_attendees");
    }
  });
});
