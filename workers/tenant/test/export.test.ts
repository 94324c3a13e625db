import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { openSql } from "../../common/db";
import type { ErrorBody } from "../../common/errors";
import { UNREACHABLE_PROXY, useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { loggedLines } from "../../test-support/logs";
import { awaitRoomInRateLimitWindow } from "../../test-support/rate-limit";
import { readAround } from "../../test-support/requests";
import { signToken } from "../../test-support/tokens";
import worker from "../src/index";
import { EXPORT_SECTIONS, exportHead, userExport } from "../src/users/export";
import { exportRequests, exportThroughPager, pagePlans } from "./export-support";

let db: WorkerTestDb;
const A = "a5600000-0000-4000-8000-000000000001";
const B = "a5600000-0000-4000-8000-000000000002";
const ZOE = "b5600000-0000-4000-8000-000000000001";
const OTHER = "b5600000-0000-4000-8000-000000000002";
const ERASED = "b5600000-0000-4000-8000-000000000003";
const ZOE_EVENT = "c5600000-0000-4000-8000-000000000001";
const OTHER_EVENT = "c5600000-0000-4000-8000-000000000002";
const JOURNEY = "d5600000-0000-4000-8000-000000000001";
/** A user with more than a page of each section that pages. */
const PAGED = "b5600000-0000-4000-8000-000000000004";
/** More than a page of notifications (500), so the export pages through them. */
const NOTIFICATIONS = 1_203;

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${A}', 'export-a', 'Export A'), ('${B}', 'export-b', 'Export B');
    INSERT INTO users (id, email, display_name) VALUES
      ('${ZOE}', 'zoe@export.test', 'Zoë'), ('${OTHER}', 'other@export.test', 'Other'), ('${ERASED}', 'gone@export.test', NULL);
    INSERT INTO tenant_users (tenant_id, user_id, role, interests) VALUES
      ('${A}', '${ZOE}', 'owner', '{climbing}'), ('${B}', '${ZOE}', 'member', '{}'), ('${A}', '${OTHER}', 'member', '{}');
    INSERT INTO user_view_preferences (user_id, selected_tenant_ids) VALUES ('${ZOE}', '{${A}}');
    INSERT INTO posts (tenant_id, user_id, content, deleted_at) VALUES
      ('${A}', '${ZOE}', 'zoe live', NULL), ('${B}', '${ZOE}', 'zoe deleted', now()), ('${A}', '${OTHER}', 'not zoe', NULL);
    INSERT INTO events (id, tenant_id, created_by, title, start_date) VALUES
      ('${ZOE_EVENT}', '${A}', '${ZOE}', 'Zoe hosts', now() + interval '1 week'),
      ('${OTHER_EVENT}', '${A}', '${OTHER}', 'Other hosts', now() + interval '2 weeks');
    INSERT INTO event_attendees (event_id, user_id, status) VALUES ('${OTHER_EVENT}', '${ZOE}', 'going'), ('${OTHER_EVENT}', '${OTHER}', 'going');
    INSERT INTO post_likes (post_id, user_id) SELECT id, '${ZOE}' FROM posts WHERE content = 'not zoe';
    INSERT INTO post_likes (post_id, user_id) SELECT id, '${OTHER}' FROM posts WHERE content = 'zoe live';
    INSERT INTO post_comments (post_id, user_id, content) SELECT id, '${ZOE}', 'zoe says' FROM posts WHERE content = 'not zoe';
    INSERT INTO post_comments (post_id, user_id, content) SELECT id, '${OTHER}', 'other says' FROM posts WHERE content = 'zoe live';
    INSERT INTO user_journeys (id, tenant_id, user_id, title) VALUES ('${JOURNEY}', '${A}', '${ZOE}', 'Alps');
    INSERT INTO journey_activities (journey_id, tenant_id, activity_type, title, start_datetime) VALUES
      ('${JOURNEY}', '${A}', 'climb', 'Day two', '2027-07-02T08:00:00Z'), ('${JOURNEY}', '${A}', 'climb', 'Day one', '2027-07-01T08:00:00Z');
    INSERT INTO notifications (job_id, user_id, tenant_id, type, title, message)
    SELECT gen_random_uuid(), '${ZOE}', '${A}', 'info', 'n' || g, 'hello' FROM generate_series(1, ${NOTIFICATIONS}) g;
    INSERT INTO notifications (job_id, user_id, tenant_id, type, title, message) VALUES (gen_random_uuid(), '${OTHER}', '${A}', 'info', 'not zoe', 'x');
    INSERT INTO content_sharing (content_type, content_id, source_tenant_id, target_tenant_id, shared_by)
    SELECT 'posts', id, '${A}', '${B}', '${ZOE}' FROM posts WHERE content = 'zoe live';
    INSERT INTO dead_jobs (job_id, queue, kind, message, error, attempts, user_id)
      VALUES (gen_random_uuid(), 'notifications', 'rejected', '{"user_id": "${ZOE}"}', 'no', 1, '${ZOE}');
  `);
  await db.query("SELECT private.erase_user($1)", [ERASED]);
  // A user with more of each, for pages of a few rows to cross every kind of boundary: inside a
  // journey's activities, and among notifications of one instant (one statement's now()), which
  // the key's id alone orders.
  await db.query(`
    INSERT INTO users (id, email) VALUES ('${PAGED}', 'paged@export.test');
    INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${PAGED}');
    INSERT INTO posts (tenant_id, user_id, content) SELECT '${A}', '${OTHER}', 'liked ' || g FROM generate_series(1, 510) g;
    INSERT INTO posts (tenant_id, user_id, content) SELECT '${A}', '${PAGED}', 'paged ' || g FROM generate_series(1, 120) g;
    INSERT INTO post_likes (post_id, user_id) SELECT id, '${PAGED}' FROM posts WHERE content LIKE 'liked %';
    INSERT INTO post_comments (post_id, user_id, content) SELECT id, '${PAGED}', 'paged says' FROM posts WHERE content LIKE 'liked %' LIMIT 210;
    INSERT INTO user_journeys (tenant_id, user_id, title) SELECT '${A}', '${PAGED}', 'trip ' || g FROM generate_series(1, 20) g;
    INSERT INTO journey_activities (journey_id, tenant_id, activity_type, title, start_datetime)
    SELECT j.id, '${A}', 'walk', j.title || ' day ' || g, '2027-07-01T08:00:00Z'::timestamptz + make_interval(days => g)
      FROM user_journeys j, generate_series(1, 7) g WHERE j.user_id = '${PAGED}';
    INSERT INTO notifications (job_id, user_id, tenant_id, type, title, message)
    SELECT gen_random_uuid(), '${PAGED}', '${A}', 'info', 'n' || g, 'hello' FROM generate_series(1, 450) g;
  `);
});

const { start: startExport, read: exportOf } = exportRequests(
  () => db,
  (id) => `http://api.localhost/admin/users/${id}/export`,
);

type Export = Record<string, unknown> &
  Record<"posts" | "notifications" | "journeys" | "journey_activities", Record<string, unknown>[]>;

describe("GET /admin/users/{id}/export", () => {
  it("holds everything that names the user, each row whole, and nothing of anyone else", async () => {
    const { res, body } = await exportOf(ZOE);
    expect([res.status, res.headers.get("content-type"), res.headers.get("cache-control")]).toEqual([
      200,
      expect.stringMatching(/^application\/json/),
      "no-store",
    ]);
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="user-${ZOE}.json"`);
    const got = JSON.parse(body) as Export;
    expect(got).toMatchObject({
      user: { id: ZOE, email: "zoe@export.test", display_name: "Zoë" },
      feed_selection: { user_id: ZOE, selected_tenant_ids: [A] },
      complete: true,
      not_included: { analytics_events: expect.stringContaining("analytics_events") },
    });
    const pick = (rows: unknown, key: string) =>
      (rows as Record<string, unknown>[]).map((r) => r[key]).sort();
    expect(pick(got.memberships, "tenant_slug")).toEqual(["export-a", "export-b"]);
    expect(got.memberships).toContainEqual(
      expect.objectContaining({ tenant_id: A, role: "owner", interests: ["climbing"] }),
    );
    // Deleted posts are still held, so they are in it, with when they were deleted.
    expect(pick(got.posts, "content")).toEqual(["zoe deleted", "zoe live"]);
    expect(got.posts.find((p) => p.content === "zoe deleted")?.deleted_at).toEqual(expect.any(String));
    expect(pick(got.events, "title")).toEqual(["Zoe hosts"]);
    expect(got.event_answers).toEqual([
      expect.objectContaining({
        event_id: OTHER_EVENT,
        user_id: ZOE,
        status: "going",
        event_title: "Other hosts",
      }),
    ]);
    expect(got.post_likes).toEqual([expect.objectContaining({ user_id: ZOE, tenant_id: A })]);
    expect(got.post_comments).toEqual([
      expect.objectContaining({ user_id: ZOE, tenant_id: A, content: "zoe says" }),
    ]);
    expect(got.journeys).toEqual([expect.objectContaining({ id: JOURNEY, title: "Alps" })]);
    expect(pick(got.journey_activities, "title")).toEqual(["Day one", "Day two"]);
    expect(got.journey_activities).toContainEqual(expect.objectContaining({ journey_id: JOURNEY }));
    // Paged through: every one once.
    expect(got.notifications).toHaveLength(NOTIFICATIONS);
    expect(new Set(got.notifications.map((n) => n.id)).size).toBe(NOTIFICATIONS);
    expect(got.notifications.every((n) => n.user_id === ZOE)).toBe(true);
    expect(got.shared_content).toEqual([expect.objectContaining({ shared_by: ZOE, target_tenant_id: B })]);
    expect(got.dead_jobs).toEqual([expect.objectContaining({ user_id: ZOE, kind: "rejected" })]);
    expect(body).not.toContain("not zoe");
    expect(body).not.toContain("other@export.test");
  });

  it("writes the same document in pages of a few rows as in its own: every boundary crossed, each row once", async () => {
    const head = await exportHead(openSql({ ...env, DATABASE_URL: db.url }), PAGED);
    if (!head.ok || !head.value) throw new Error("no head");
    const plan = userExport(PAGED, head.value, "operator");
    expect(await exportThroughPager(db, plan, 7)).toEqual(await exportThroughPager(db, plan));
  });

  it("holds each section of a user who has more whole, each row once, in order", async () => {
    const { res, body } = await exportOf(PAGED);
    expect(res.status).toBe(200);
    const got = JSON.parse(body) as Export;
    const counts = (name: string, key: (row: Record<string, unknown>) => unknown) => {
      const rows = got[name] as Record<string, unknown>[];
      return [rows.length, new Set(rows.map(key)).size];
    };
    expect({
      posts: counts("posts", (r) => r.id),
      post_likes: counts("post_likes", (r) => r.post_id),
      post_comments: counts("post_comments", (r) => r.id),
      journeys: counts("journeys", (r) => r.id),
      journey_activities: counts("journey_activities", (r) => r.id),
      notifications: counts("notifications", (r) => r.id),
    }).toEqual({
      posts: [120, 120],
      post_likes: [510, 510],
      post_comments: [210, 210],
      journeys: [20, 20],
      journey_activities: [140, 140],
      notifications: [450, 450],
    });
    // In key order: all of one instant here, so in id order, across the pages too.
    const keys = got.notifications.map((n) => `${n.created_at} ${n.id}`);
    expect(new Set(got.notifications.map((n) => n.created_at)).size).toBe(1);
    expect(keys).toEqual([...keys].sort());
  });

  it("reads each page along an index that starts with the user, never all their rows", async () => {
    // Planned as a live database plans it: with statistics, for a user who holds little of each
    // table (one who holds nothing here). On this small database a pager that walks a primary
    // key past everyone else's rows can look as cheap as a seek for a user who holds much.
    await db.query("ANALYZE");
    const plans = await pagePlans(db, EXPORT_SECTIONS, "b5600000-0000-4000-8000-0000000000aa");
    expect(plans.filter((p) => p.sorts > 0 || !p.seeks)).toEqual([]);
    expect(plans).toHaveLength(EXPORT_SECTIONS.length * 2);
  });

  it("answers 404 for a user not here, saying when one erased was erased, and is for operators only", async () => {
    const unknown = await exportOf("b5600000-0000-4000-8000-0000000000ff");
    expect([unknown.res.status, (JSON.parse(unknown.body) as ErrorBody).error.message]).toEqual([
      404,
      "no such user",
    ]);
    const erased = await exportOf(ERASED);
    expect([erased.res.status, (JSON.parse(erased.body) as ErrorBody).error.message]).toEqual([
      404,
      expect.stringMatching(/^no such user: erased at /),
    ]);
    const asUser = await exportOf(ZOE, { authorization: `Bearer ${await signToken({ sub: ZOE })}` });
    expect(asUser.res.status).toBe(403);
  });

  it("is cut off, never complete, when the user is erased while it streams", async () => {
    const leaving = "b5600000-0000-4000-8000-000000000005";
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${leaving}', 'leaving@export.test');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${leaving}');
      INSERT INTO posts (tenant_id, user_id, content) VALUES ('${A}', '${leaving}', 'leaving soon');
    `);
    const warnings = vi.spyOn(console, "warn");
    try {
      const { res, ctx } = await startExport(leaving);
      expect(res.status).toBe(200);
      const read = await readAround(res, () => db.query("SELECT private.erase_user($1)", [leaving]));
      await waitOnExecutionContext(ctx);
      expect(read).toBe("cut");
      expect(loggedLines(warnings)).toContainEqual(
        expect.objectContaining({
          msg: "user export stopped part way; its stream is aborted",
          reason: "the user began to be erased during the export",
          user_id: leaving,
        }),
      );
    } finally {
      warnings.mockRestore();
    }
  });

  it("answers 503 with Retry-After when the database is down before it starts, and cuts the stream off when it goes part way", async () => {
    const down = await exportOf(ZOE, {}, { LOCAL_DB_PROXY: UNREACHABLE_PROXY });
    expect([down.res.status, down.res.headers.get("retry-after")]).toEqual([503, "5"]);
    // A statement that fails for one section, as an outage between two pages would.
    await db.query("ALTER TABLE journey_activities RENAME TO journey_activities_away");
    const errors = vi.spyOn(console, "error");
    try {
      const { res, ctx } = await startExport(ZOE);
      expect(res.status).toBe(200);
      await expect(res.text()).rejects.toThrow();
      await waitOnExecutionContext(ctx);
      expect(loggedLines(errors)).toContainEqual(
        expect.objectContaining({
          msg: "user export stopped part way; its stream is aborted",
          section: "journey_activities",
        }),
      );
    } finally {
      errors.mockRestore();
      await db.query("ALTER TABLE journey_activities_away RENAME TO journey_activities");
    }
  });
});

async function myExportOf(token: string | null) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request("http://api.localhost/v1/me/export", {
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    }),
    { ...env, DATABASE_URL: db.url },
    ctx,
  );
  const body = await res.text();
  await waitOnExecutionContext(ctx);
  return { res, body };
}

describe("GET /v1/me/export", () => {
  it("gives a member everything held about them but the operators' records of failed jobs, twice a minute", async () => {
    await awaitRoomInRateLimitWindow(10_000);
    const token = await signToken({ sub: ZOE });
    const { res, body } = await myExportOf(token);
    expect([res.status, res.headers.get("cache-control")]).toEqual([200, "private, no-store"]);
    const got = JSON.parse(body) as Export;
    expect(got).toMatchObject({
      user: { id: ZOE },
      complete: true,
      not_included: { analytics_events: expect.any(String), dead_jobs: expect.any(String) },
    });
    expect(got.notifications).toHaveLength(NOTIFICATIONS);
    expect(got.journeys).toHaveLength(1);
    expect("dead_jobs" in got).toBe(false);
    expect(body).not.toContain("not zoe");
    expect((await myExportOf(token)).res.status).toBe(200);
    const third = await myExportOf(token);
    expect([third.res.status, third.res.headers.get("retry-after")]).toEqual([429, "60"]);
  });

  it("needs a token, and answers 404 to one whose user the platform does not hold", async () => {
    expect((await myExportOf(null)).res.status).toBe(401);
    const stranger = await myExportOf(await signToken({ sub: "b5600000-0000-4000-8000-0000000000ee" }));
    expect([stranger.res.status, (JSON.parse(stranger.body) as ErrorBody).error.code]).toEqual([
      404,
      "not_found",
    ]);
  });
});
