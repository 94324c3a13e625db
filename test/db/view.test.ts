import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { lockWaitOf, type Rows } from "../../workers/test-support/postgres";
import { type TestDb, useTestDatabase } from "../setup/node-db";

let db: TestDb;
beforeAll(async () => {
  db = await useTestDatabase();
  // Three tenants (one inactive), 30 users, memberships of varied size, recent and old posts.
  await db.client.query(`
    INSERT INTO tenants (id, slug, name, is_active)
    SELECT ('00000000-0000-4000-8000-0000000000' || lpad(g::text, 2, '0'))::uuid, 't' || g, 'Tenant ' || g, g <> 3
    FROM generate_series(1, 3) g;
    INSERT INTO users (id, email)
    SELECT ('00000000-0000-4000-9000-0000000000' || lpad(g::text, 2, '0'))::uuid, 'u' || g || '@example.com'
    FROM generate_series(1, 30) g;
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin)
    SELECT t.id, u.id, CASE WHEN u.email LIKE 'u1@%' THEN 'admin' ELSE 'member' END, u.email LIKE 'u1@%'
    FROM tenants t JOIN users u ON (hashtext(t.slug || u.email) % 3) <> 0 OR u.email = 'u1@example.com';
    INSERT INTO posts (tenant_id, user_id, content, created_at, deleted_at)
    SELECT tu.tenant_id, tu.user_id, 'p', now() - (g || ' days')::interval, CASE WHEN g = 7 THEN now() END
    FROM tenant_users tu, generate_series(1, 60, 3) g;
  `);
});

/** The test database's rows, as the shared helpers take them. */
const rows: Rows = async (text, params) => (await db.client.query(text, params)).rows;

const directAggregate = `
  SELECT tu.user_id, t.id AS tenant_id, t.name AS tenant_name, t.slug AS tenant_slug, tu.role, tu.is_admin,
         (SELECT count(*) FROM tenant_users x WHERE x.tenant_id = t.id) AS member_count,
         (SELECT count(*) FROM posts p WHERE p.tenant_id = t.id AND p.deleted_at IS NULL
            AND p.created_at > now() - interval '30 days') AS recent_activity_count
  FROM tenant_users tu JOIN tenants t ON t.id = tu.tenant_id
  WHERE t.is_active
  ORDER BY 1, 2`;

describe("private.mv_user_communities", () => {
  const readView = () =>
    db.client.query(
      "SELECT user_id, tenant_id, tenant_name, tenant_slug, role, is_admin, member_count, recent_activity_count FROM private.mv_user_communities ORDER BY 1, 2",
    );
  const liveCopy = async () =>
    (
      await db.client.query(
        "SELECT live_copy FROM private.view_refreshes WHERE view_name = 'private.mv_user_communities'",
      )
    ).rows[0]?.live_copy;

  it("refreshes the copy nobody reads, switches readers to it, and then equals a direct aggregate", async () => {
    const before = await liveCopy();
    const { rows } = await db.client.query("SELECT private.refresh_user_communities() AS refreshed");
    expect(rows[0].refreshed).toBe(true);
    expect(await liveCopy()).not.toBe(before);
    const view = await readView();
    expect(view.rows.length).toBeGreaterThan(20);
    expect(view.rows).toEqual((await db.client.query(directAggregate)).rows);
    // And back: each refresh alternates the copies, each time complete.
    await db.client.query(
      "DELETE FROM tenant_users WHERE (tenant_id, user_id) IN (SELECT tenant_id, user_id FROM tenant_users WHERE role = 'member' LIMIT 3)",
    );
    await db.client.query("SELECT private.refresh_user_communities()");
    expect(await liveCopy()).toBe(before);
    expect((await readView()).rows).toEqual((await db.client.query(directAggregate)).rows);
  });

  it("keeps serving reads while the other copy is being refreshed", async () => {
    const refresher = new pg.Client({ connectionString: db.url });
    await refresher.connect();
    try {
      const idle = (await liveCopy()) === "a" ? "b" : "a";
      await refresher.query("BEGIN");
      // What the cron's refresh holds while it runs: the idle copy, locked exclusively.
      await refresher.query(`REFRESH MATERIALIZED VIEW private.mv_user_communities_${idle}`);
      await db.client.query("SET statement_timeout = '2s'");
      const started = Date.now();
      expect((await readView()).rows.length).toBeGreaterThan(20);
      expect(Date.now() - started).toBeLessThan(1_000);
      await refresher.query("ROLLBACK");
    } finally {
      await db.client.query("RESET statement_timeout");
      await refresher.end();
    }
  });

  it("gives its swap up within 5 s while a long query reads the view, instead of queueing every reader behind it", async () => {
    const [reader, cron, client] = [0, 1, 2].map(() => new pg.Client({ connectionString: db.url }));
    const clients = [reader, cron, client] as pg.Client[];
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const before = await liveCopy();
      // A report (or a pg_dump) that reads the view for longer than the test waits.
      await reader?.query("BEGIN");
      await reader?.query("SELECT count(*) FROM private.mv_user_communities");
      const pid = (await cron?.query<{ pid: number }>("SELECT pg_backend_pid() AS pid"))?.rows[0]?.pid;
      // As the cron calls it (workers/batch/src/cron/refresh-views.ts).
      await cron?.query("BEGIN");
      await cron?.query("SET LOCAL statement_timeout = '10min'");
      const refreshing = (cron as pg.Client).query("SELECT private.refresh_user_communities()").then(
        () => "refreshed",
        (e: { code?: string }) => e.code,
      );
      expect(await lockWaitOf(rows, pid)).toBe("relation");
      // A "my communities" read now queues behind the swap, until the swap gives up.
      const started = Date.now();
      expect((await client?.query("SELECT count(*) FROM private.mv_user_communities"))?.rowCount).toBe(1);
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(await refreshing).toBe("55P03"); // lock_not_available: the cron logs it and runs again
      await cron?.query("ROLLBACK");
      await reader?.query("COMMIT");
      expect(await liveCopy()).toBe(before);
      const { rows: after } = await db.client.query("SELECT private.refresh_user_communities() AS refreshed");
      expect([after[0].refreshed, await liveCopy()]).toEqual([true, before === "a" ? "b" : "a"]);
    } finally {
      await reader?.query("ROLLBACK").catch(() => undefined);
      await Promise.all(clients.map((c) => c?.end()));
    }
  }, 30_000);

  it("returns at once, refreshing nothing, when another refresh holds the lock", async () => {
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT private.refresh_user_communities()");
      // `other` still holds the refresh lock inside its open transaction.
      const started = Date.now();
      const { rows } = await db.client.query("SELECT private.refresh_user_communities() AS refreshed");
      expect(rows[0].refreshed).toBe(false);
      expect(Date.now() - started).toBeLessThan(1_000);
      await other.query("COMMIT");
    } finally {
      await other.end();
    }
  });

  it("is not refreshed by writes: no triggers refresh it per statement", async () => {
    const { rows } = await db.client.query(
      "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '%refresh%'",
    );
    expect(rows).toEqual([]);
  });
});
