import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { openDb, openSql } from "../../common/db";
import { runCron } from "../../test-support/cron";
import { rowsScanned, useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { recordDeadJobs } from "../src/consume/dead";
import { deleteInChunks } from "../src/cron/chunks";
import { eraseTenants } from "../src/cron/erase-tenants";
import { CRON } from "../src/cron/schedules";
import worker from "../src/index";

let db: WorkerTestDb;
beforeAll(async () => {
  db = await useWorkerTestDatabase();
});

const erase = () => runCron(worker, CRON.refreshViews, { DATABASE_URL: db.url });
const count = async (sql: string) => (await db.query<{ n: number }>(`SELECT (${sql})::int AS n`))[0]?.n;

/** A tenant as an operator leaves it before its erasure: deactivated, the erasure asked for. */
const marked = (id: string, slug: string) =>
  `INSERT INTO tenants (id, slug, name, is_active, erasure_requested_at) VALUES ('${id}', '${slug}', '${slug}', false, now());`;

describe("community erasure (five-minute cron)", () => {
  const A = "e1000000-0000-4000-8000-00000000000a"; // erased
  const B = "e1000000-0000-4000-8000-00000000000b"; // kept, shares with A
  const C = "e1000000-0000-4000-8000-00000000000c"; // deactivated, not asked to be erased
  const D = "e1000000-0000-4000-8000-00000000000d"; // asked, but active again (not by the API)
  const [U1, U2, U3] = [1, 2, 3].map((i) => `e2000000-0000-4000-8000-00000000000${i}`);
  const [P1, P2, P3] = [1, 2, 3].map((i) => `e3000000-0000-4000-8000-00000000000${i}`);
  const [E1, E2, E3] = [1, 2, 3].map((i) => `e4000000-0000-4000-8000-00000000000${i}`);
  const J = "e5000000-0000-4000-8000-000000000001";

  beforeAll(async () => {
    await db.query(`
      ${marked(A, "erased")}
      INSERT INTO tenants (id, slug, name) VALUES ('${B}', 'kept', 'Kept');
      INSERT INTO tenants (id, slug, name, is_active) VALUES ('${C}', 'dormant', 'Dormant', false);
      INSERT INTO tenants (id, slug, name, erasure_requested_at) VALUES ('${D}', 'revived', 'Revived', now());
      INSERT INTO users (id, email) VALUES ('${U1}', 'e1@example.com'), ('${U2}', 'e2@example.com'), ('${U3}', 'e3@example.com');
      INSERT INTO tenant_users (tenant_id, user_id, role) VALUES
        ('${A}', '${U1}', 'owner'), ('${A}', '${U2}', 'member'), ('${B}', '${U1}', 'member'), ('${B}', '${U3}', 'member'),
        ('${C}', '${U1}', 'member'), ('${D}', '${U1}', 'member');
      INSERT INTO posts (id, tenant_id, user_id, content, deleted_at) VALUES
        ('${P1}', '${A}', '${U1}', 'live in A', NULL), ('${P2}', '${A}', '${U2}', 'deleted in A', now()),
        ('${P3}', '${B}', '${U1}', 'in B', NULL);
      INSERT INTO posts (tenant_id, user_id, content) VALUES ('${C}', '${U1}', 'in C'), ('${D}', '${U1}', 'in D');
      INSERT INTO post_likes (post_id, user_id) VALUES ('${P1}', '${U3}'), ('${P3}', '${U1}');
      INSERT INTO post_comments (post_id, user_id, content) VALUES ('${P1}', '${U3}', 'on A'), ('${P3}', '${U3}', 'on B');
      INSERT INTO events (id, tenant_id, created_by, title, start_date, deleted_at) VALUES
        ('${E1}', '${A}', '${U1}', 'live in A', now() + interval '1 day', NULL),
        ('${E2}', '${A}', '${U1}', 'deleted in A', now() + interval '1 day', now()),
        ('${E3}', '${B}', '${U1}', 'in B', now() + interval '1 day', NULL);
      INSERT INTO event_attendees (event_id, user_id, status) VALUES ('${E1}', '${U2}', 'going'), ('${E3}', '${U3}', 'going');
      -- U3 left A: their notifications of it are found by the row's cascade, not through a member.
      INSERT INTO notifications (user_id, tenant_id, type, title, message, job_id) VALUES
        ('${U1}', '${A}', 'info', 'A', 'm', gen_random_uuid()), ('${U2}', '${A}', 'info', 'A', 'm', gen_random_uuid()),
        ('${U3}', '${A}', 'info', 'A', 'm', gen_random_uuid()), ('${U1}', '${B}', 'info', 'B', 'm', gen_random_uuid());
      INSERT INTO analytics_events (tenant_id, user_id, event_type, job_id)
        SELECT t, '${U1}', 'view', gen_random_uuid() FROM unnest(ARRAY['${A}', '${A}', '${A}', '${B}']::uuid[]) t;
      INSERT INTO content_sharing (content_type, content_id, source_tenant_id, target_tenant_id, shared_by) VALUES
        ('posts', '${P3}', '${B}', '${A}', '${U1}'), ('posts', '${P1}', '${A}', '${B}', '${U1}');
      INSERT INTO user_journeys (id, user_id, tenant_id, title, start_date) VALUES ('${J}', '${U2}', '${A}', 'Trip', '2026-12-01');
      INSERT INTO journey_activities (journey_id, tenant_id, activity_type, title, start_datetime)
        VALUES ('${J}', '${A}', 'visit', 'Stop', '2026-12-02');
      INSERT INTO dead_jobs (queue, kind, message, error) VALUES
        ('analytics', 'rejected', '{"tenant_id": "${A}", "note": "A"}', 'not_member'),
        ('analytics', 'rejected', '{"tenant_id": "${B}", "note": "B"}', 'not_member');
      INSERT INTO user_view_preferences (user_id, selected_tenant_ids) VALUES ('${U1}', ARRAY['${A}', '${B}']::uuid[]);
    `);
  });

  it("deletes everything of the community and then its row, and nothing of another community", async () => {
    const run = await erase();
    expect(run.outcome).toBe("ok");
    expect(run.infos.filter((l) => l.msg === "community erased")).toEqual([
      expect.objectContaining({ tenant_id: A, erased: true }),
    ]);
    expect(await db.query("SELECT slug FROM tenants ORDER BY slug")).toEqual([
      { slug: "dormant" },
      { slug: "kept" },
      { slug: "revived" },
    ]);
    const left = {
      posts: await count(`SELECT count(*) FROM posts WHERE tenant_id = '${A}'`),
      likes: await count("SELECT count(*) FROM post_likes"),
      comments: await count("SELECT count(*) FROM post_comments"),
      events: await count(`SELECT count(*) FROM events WHERE tenant_id = '${A}'`),
      answers: await count("SELECT count(*) FROM event_attendees"),
      notifications: await count("SELECT count(*) FROM notifications"),
      analytics: await count(`SELECT count(*) FROM analytics_events WHERE tenant_id = '${A}'`),
      members: await count(`SELECT count(*) FROM tenant_users WHERE tenant_id = '${A}'`),
      shares: await count("SELECT count(*) FROM content_sharing"),
      deadJobs: await count(`SELECT count(*) FROM dead_jobs WHERE message->>'tenant_id' = '${A}'`),
    };
    expect(left).toEqual({
      posts: 0,
      likes: 1, // U1's like of B's post
      comments: 1,
      events: 0,
      answers: 1,
      notifications: 1, // U1's of B
      analytics: 0,
      members: 0,
      shares: 0, // both named A: one as where it went, one as where its post was
      deadJobs: 0,
    });
    // B's own rows are whole, C's and D's too (D is active: its erasure waits for a deactivation).
    expect(await count(`SELECT count(*) FROM posts WHERE tenant_id <> '${A}'`)).toBe(3);
    expect(await count(`SELECT count(*) FROM analytics_events WHERE tenant_id = '${B}'`)).toBe(1);
    expect(await count(`SELECT count(*) FROM tenant_users`)).toBe(4);
    expect(await count(`SELECT count(*) FROM dead_jobs`)).toBe(1);
    // Users stay, and journeys stay theirs, without the community.
    expect(await count("SELECT count(*) FROM users")).toBe(3);
    expect(
      await db.query(
        `SELECT j.tenant_id AS journey, a.tenant_id AS activity FROM user_journeys j JOIN journey_activities a ON a.journey_id = j.id WHERE j.id = '${J}'`,
      ),
    ).toEqual([{ journey: null, activity: null }]);
    expect(
      await db.query(
        `SELECT selected_tenant_ids::text[] AS ids FROM user_view_preferences WHERE user_id = '${U1}'`,
      ),
    ).toEqual([{ ids: [B] }]);
    // B's post counts the like and comment it kept.
    expect(await db.query(`SELECT total_likes, total_comments FROM posts WHERE id = '${P3}'`)).toEqual([
      { total_likes: 1, total_comments: 1 },
    ]);

    // Nothing left to do: the next run says nothing of erasures.
    const next = await erase();
    expect(next.outcome).toBe("ok");
    expect(next.infos.filter((l) => String(l.msg).startsWith("community eras"))).toEqual([]);
  });

  it("records no dead job of an erased community: its jobs still queued are dropped as they fail", async () => {
    const rejected = (tenant: string, kind: "rejected" | "invalid") => ({
      jobId: crypto.randomUUID(),
      queue: "analytics",
      kind,
      message: { tenant_id: tenant, user_id: U1, note: `late-${kind}-${tenant}` },
      error: "not_member",
      attempts: 1,
    });
    const recorded = await recordDeadJobs(openSql({ ...env, DATABASE_URL: db.url }), [
      rejected(A, "rejected"),
      rejected(B, "rejected"),
      rejected(A, "invalid"), // a malformed message is kept whoever it names: a producer's bug
    ]);
    expect(recorded.ok).toBe(true);
    expect(
      await db.query(
        "SELECT message->>'note' AS note FROM dead_jobs WHERE message->>'note' LIKE 'late-%' ORDER BY 1",
      ),
    ).toEqual([{ note: `late-invalid-${A}` }, { note: `late-rejected-${B}` }]);
  });
});

describe("a large community's erasure", () => {
  const L = "e1000000-0000-4000-8000-0000000000f1";
  const OTHER = "e1000000-0000-4000-8000-0000000000f2";
  const M = "e2000000-0000-4000-8000-0000000000f1"; // a member of both
  const N = "e2000000-0000-4000-8000-0000000000f2"; // of the other only, with a full inbox

  beforeAll(async () => {
    await db.query(`
      ${marked(L, "large")}
      INSERT INTO tenants (id, slug, name) VALUES ('${OTHER}', 'busy', 'Busy');
      INSERT INTO users (id, email) VALUES ('${M}', 'large@example.com'), ('${N}', 'busy@example.com');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${L}', '${M}'), ('${OTHER}', '${M}'), ('${OTHER}', '${N}');
      INSERT INTO posts (tenant_id, user_id, content) SELECT '${L}', '${M}', 'p' || g FROM generate_series(1, 6000) g;
      -- Many communities, as in production: otherwise a community's posts look like a third of
      -- the table, and walking the global feed index (every community's posts) looks as cheap.
      INSERT INTO tenants (slug, name) SELECT 'filler-' || g, 'Filler' FROM generate_series(1, 100) g;
      INSERT INTO posts (tenant_id, user_id, content)
        SELECT t.id, '${N}', 'o' FROM tenants t, generate_series(1, 20) WHERE t.slug LIKE 'filler-%';
      INSERT INTO notifications (user_id, tenant_id, type, title, message, job_id)
        SELECT u, t, 'info', 't', 'm', gen_random_uuid()
          FROM (VALUES ('${M}'::uuid, '${L}'::uuid, 10), ('${M}', '${OTHER}', 5), ('${N}', '${OTHER}', 2000)) v(u, t, n),
               generate_series(1, n);
      ANALYZE posts, notifications;
    `);
  });

  it("finds its rows through indexes: its live posts on the community's feed index, its notifications in its members' inboxes", async () => {
    const scanned = (table: string) =>
      rowsScanned(db, table, async (query) => {
        // As on a large database, where the tables are too big for a scan to look cheapest.
        await query("SET LOCAL enable_seqscan = off", []);
        await query("SELECT * FROM private.erase_tenant_chunk($1, 10000)", [L]);
      });
    // Its 6,000 posts, each read once to be picked and once by key to be deleted; none of the
    // 2,000 of other communities.
    expect(await scanned("posts")).toBe(2 * 6000);
    // M's inbox (15, 10 of them the community's), those 10 by key, then M's inbox again to see
    // none is left (those 10 still in it, deleted by this transaction); not N's 2,000.
    expect(await scanned("notifications")).toBe(15 + 10 + 15);
  });

  it("takes a run's budget as it is left, not afresh for each community: one begun at 59 s stops after a chunk", async () => {
    let clock = 59_000;
    let chunks = 0;
    const late = await deleteInChunks(
      async () => {
        chunks++;
        return { deleted: 5000, done: false };
      },
      () => (clock += 1_000),
      0, // the run began at 0
    );
    expect([late, chunks]).toEqual([{ ok: true, value: { deleted: 5000, more: true } }, 1]);
  });

  it("goes a chunk at a time, leaves the rest to the next run once its time is spent, and then finishes", async () => {
    const handle = openDb({ ...env, DATABASE_URL: db.url });
    let clock = 0;
    try {
      const spent = await eraseTenants(handle.pool, handle.db, () => {
        clock += 60_000;
        return clock;
      });
      expect(spent).toEqual({
        ok: true,
        value: [{ tenant_id: L, deleted: 5000, erased: false, more: true }],
      });
    } finally {
      await handle.close();
    }
    expect(await count(`SELECT count(*) FROM posts WHERE tenant_id = '${L}'`)).toBe(1000);
    const run = await erase();
    expect(run.infos.find((l) => l.msg === "community erased")).toMatchObject({
      tenant_id: L,
      deleted: 1000 + 10 + 1, // the posts left, its notifications, its member
      erased: true,
    });
    expect(await count("SELECT count(*) FROM posts WHERE content = 'o'")).toBe(2000);
    expect(await count(`SELECT count(*) FROM notifications WHERE tenant_id = '${OTHER}'`)).toBe(2005);
    expect(await count(`SELECT count(*) FROM tenant_users WHERE tenant_id = '${OTHER}'`)).toBe(2);
  });
});

describe("a community whose members have full inboxes", () => {
  const Q = "e1000000-0000-4000-8000-0000000000e1";
  const ELSEWHERE = "e1000000-0000-4000-8000-0000000000e2";
  const [X, Y] = ["e2000000-0000-4000-8000-0000000000e1", "e2000000-0000-4000-8000-0000000000e2"];

  beforeAll(async () => {
    await db.query(`
      ${marked(Q, "inboxes")}
      INSERT INTO tenants (id, slug, name) VALUES ('${ELSEWHERE}', 'elsewhere', 'Elsewhere');
      INSERT INTO users (id, email) VALUES ('${X}', 'x@example.com'), ('${Y}', 'y@example.com');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${Q}', '${X}'), ('${Q}', '${Y}'), ('${ELSEWHERE}', '${X}');
      -- X's inbox: 300 of the community, newest, then 1,000 older ones of elsewhere.
      INSERT INTO notifications (user_id, tenant_id, type, title, message, job_id, created_at)
        SELECT '${X}', '${Q}', 'info', 't', 'm', gen_random_uuid(), now() - make_interval(secs => g) FROM generate_series(1, 300) g;
      INSERT INTO notifications (user_id, tenant_id, type, title, message, job_id, created_at)
        SELECT '${X}', '${ELSEWHERE}', 'info', 't', 'm', gen_random_uuid(), now() - interval '1 day' - make_interval(secs => g)
          FROM generate_series(1, 1000) g;
      INSERT INTO notifications (user_id, tenant_id, type, title, message, job_id)
        VALUES ('${Y}', '${Q}', 'info', 't', 'm', gen_random_uuid());
      ANALYZE notifications;
    `);
  });

  it("walks each member's inbox only as far as the chunk needs, not all of it", async () => {
    const read = await rowsScanned(db, "notifications", async (query) => {
      await query("SET LOCAL enable_seqscan = off", []);
      expect((await query("SELECT * FROM private.erase_tenant_chunk($1, 100)", [Q])).rows).toEqual([
        { deleted: 100, drained: false },
      ]);
    });
    // X's 100 newest, found and then deleted by key; whether X has one left: past those 100 (still
    // in the index, deleted by this transaction) to the next; Y's first. Reading the inboxes
    // whole (as bitmaps do) would read X's 1,300 twice.
    expect(read).toBe(100 + 100 + 101 + 1);
  });
});
