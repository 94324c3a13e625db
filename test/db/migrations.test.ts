import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { LOCAL_DIR, ROOT } from "../../db/local/config";
import { dropDatabase, MIGRATIONS_FOLDER, migrateDatabase, withDatabase } from "../../db/local/migrate";
import { type TestDb, useTestDatabase } from "../setup/node-db";

let db: TestDb;
beforeAll(async () => {
  db = await useTestDatabase();
});

/** Every index the original design names; ours must exist under the same names. */
const ORIGINAL_INDEXES = [
  "idx_tenant_users_composite",
  "idx_content_sharing_composite",
  "idx_user_journeys_status",
  "idx_journey_activities_datetime",
  "idx_tenant_users_interests_gin",
  "idx_tenant_users_notification_prefs",
  "idx_user_journeys_locations",
  "idx_user_view_preferences_selected_tenant_ids",
  "idx_tenants_active",
  "idx_tenants_domain",
  "idx_journey_activities_date_range",
  "idx_user_journeys_date_range",
  "idx_user_journeys_public",
  "idx_mv_user_communities_a_user_tenant",
  "idx_mv_user_communities_b_user_tenant",
];

/** A database with nothing in it, on the test server; dropped with db/local's dropDatabase. */
async function emptyDatabase(name: string): Promise<string> {
  await dropDatabase(db.url, name);
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  await admin.end();
  return withDatabase(db.url, name);
}

describe("migrations", () => {
  it("apply to an empty database, and running them again is a no-op", async () => {
    const name = `${db.name}_empty`;
    const url = await emptyDatabase(name);
    try {
      await migrateDatabase(url);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const count = async () =>
        (await client.query("SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations")).rows[0].n;
      const objects = async () =>
        (
          await client.query(
            "SELECT count(*)::int AS n FROM pg_class WHERE relnamespace::regnamespace::text IN ('public','private')",
          )
        ).rows[0].n;
      const [migrations, relations] = [await count(), await objects()];
      expect(migrations).toBeGreaterThanOrEqual(2);
      await migrateDatabase(url);
      expect(await count()).toBe(migrations);
      expect(await objects()).toBe(relations);
      await client.end();
    } finally {
      await dropDatabase(db.url, name);
    }
  });

  it("leave the database as it was when one of them fails: they run in one transaction", async () => {
    const name = `${db.name}_failing`;
    const url = await emptyDatabase(name);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // An object in the way of a later migration (0006 creates private.membership).
      await client.query(
        "CREATE SCHEMA private; CREATE FUNCTION private.membership(uuid, uuid, text[]) RETURNS int LANGUAGE sql AS 'SELECT 1'",
      );
      await expect(migrateDatabase(url)).rejects.toThrow(/already exists/);
      const { rows } = await client.query(
        "SELECT to_regclass('public.tenants') AS tenants, to_regclass('drizzle.__drizzle_migrations') AS journal",
      );
      // Not half a schema with no journal of it, which the next run would trip over.
      expect(rows[0]).toEqual({ tenants: null, journal: null });
    } finally {
      await client.end();
      await dropDatabase(db.url, name);
    }
  });

  const pooler = inject("db").pooler;
  it.for(["directly", "through a transaction-mode pooler (PgBouncer, as Neon's -pooler endpoint)"])(
    "run by two deploys at once %s, apply each migration once and both succeed, whatever isolation the role defaults to",
    async (how, { skip }) => {
      const pooled = how !== "directly";
      if (pooled && pooler.port === 0) skip(pooler.unavailable);
      const name = `${db.name}_race${pooled ? "_pooled" : ""}`;
      const url = await emptyDatabase(name).then(async (direct) => {
        // Over the role's own default (migration 0023), as a database's owner may set it.
        await db.client.query(
          `ALTER ROLE CURRENT_USER IN DATABASE ${db.client.escapeIdentifier(name)} SET default_transaction_isolation = 'serializable'`,
        );
        if (!pooled) return direct;
        const u = new URL(direct);
        u.port = String(pooler.port);
        return u.toString();
      });
      try {
        const runs = await Promise.allSettled([migrateDatabase(url), migrateDatabase(url)]);
        expect(runs.map((r) => (r.status === "rejected" ? String(r.reason) : "ok"))).toEqual(["ok", "ok"]);
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const { rows } = await client.query(
          "SELECT count(*)::int AS n, count(DISTINCT created_at)::int AS d FROM drizzle.__drizzle_migrations",
        );
        await client.end();
        expect(rows[0].n).toBe(readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith(".sql")).length);
        expect(rows[0].d).toBe(rows[0].n);
      } finally {
        await dropDatabase(db.url, name);
      }
    },
  );

  it("give up, applying nothing, when a table they alter is held by a long query, instead of stalling its readers", async () => {
    const name = `${db.name}_busy`;
    const url = await emptyDatabase(name);
    const [owner, reader, client] = [0, 1, 2].map(() => new pg.Client({ connectionString: url }));
    try {
      await migrateDatabase(url);
      await owner?.connect();
      // 0018 pending again: it alters tenants, and takes that table's ACCESS EXCLUSIVE lock.
      const { rows: journal } = await (owner as pg.Client).query<{ n: number }>(
        "SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations",
      );
      await owner?.query(`
        ALTER TABLE tenants DROP CONSTRAINT tenants_name_length;
        DELETE FROM drizzle.__drizzle_migrations WHERE id > 18;`);
      await reader?.connect();
      await client?.connect();
      await reader?.query("BEGIN");
      await reader?.query("SELECT count(*) FROM tenants");
      const migrating = migrateDatabase(url, { lockTimeoutMs: 1_000 }).then(
        () => "applied",
        (e: Error) => e.message,
      );
      await new Promise((r) => setTimeout(r, 300));
      // A tenant lookup meanwhile waits for the migration's request at most until it gives up.
      const started = Date.now();
      await client?.query("SELECT count(*) FROM tenants");
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(await migrating).toMatch(/waited too long for a table another query holds/);
      const { rows: after } = await (owner as pg.Client).query<{ n: number }>(
        "SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations",
      );
      expect(after[0]?.n).toBe(18);
      await reader?.query("COMMIT");
      await migrateDatabase(url, { lockTimeoutMs: 1_000 });
      const { rows } = await (owner as pg.Client).query<{ n: number }>(
        "SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations",
      );
      expect(rows[0]?.n).toBe(journal[0]?.n);
    } finally {
      await Promise.all([owner, reader, client].map((c) => c?.end().catch(() => undefined)));
      await dropDatabase(db.url, name);
    }
  });

  it("keep the inbox index built by hand ahead of 0025 (CREATE INDEX CONCURRENTLY), rather than build it again", async () => {
    const name = `${db.name}_inbox`;
    const url = await emptyDatabase(name);
    const client = new pg.Client({ connectionString: url });
    try {
      await migrateDatabase(url);
      await client.connect();
      // As before 0025, and the new index built beside it the way the migration's comment says.
      await client.query(`
        DROP INDEX idx_notifications_inbox;
        CREATE INDEX idx_notifications_inbox ON notifications (user_id, created_at DESC NULLS FIRST);
        DELETE FROM drizzle.__drizzle_migrations WHERE id > 25;`);
      await client.query(
        `CREATE INDEX CONCURRENTLY "idx_notifications_inbox_v2" ON "notifications" USING btree ("user_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST)`,
      );
      const oid = async (index: string) =>
        (await client.query<{ oid: number | null }>("SELECT to_regclass($1)::oid AS oid", [index])).rows[0]
          ?.oid;
      const built = await oid("idx_notifications_inbox_v2");
      await migrateDatabase(url);
      expect([await oid("idx_notifications_inbox"), await oid("idx_notifications_inbox_v2")]).toEqual([
        built,
        null,
      ]);
      const { rows } = await client.query<{ def: string }>(
        "SELECT pg_get_indexdef('idx_notifications_inbox'::regclass) AS def",
      );
      expect(rows[0]?.def).toContain("(user_id, created_at DESC, id DESC)");
    } finally {
      await client.end().catch(() => undefined);
      await dropDatabase(db.url, name);
    }
  });

  it("are what db/schema generates: drizzle-kit finds nothing left to migrate", async () => {
    // A copy of the migrations, since generate writes a new one when the schema moved on. Under
    // the repository: drizzle-kit takes --out relative to it.
    mkdirSync(LOCAL_DIR, { recursive: true });
    const out = mkdtempSync(path.join(LOCAL_DIR, "schema-check-"));
    try {
      cpSync(path.join(ROOT, "db", "migrations"), out, { recursive: true });
      const before = readdirSync(out).sort();
      const { stdout, stderr } = await promisify(execFile)(
        path.join(ROOT, "node_modules", ".bin", "drizzle-kit"),
        [
          "generate",
          "--dialect",
          "postgresql",
          "--schema",
          "./db/schema/index.ts",
          "--out",
          path.relative(ROOT, out),
        ],
        { cwd: ROOT, timeout: 60_000 },
      );
      // A change it would ask about (a rename, or a drop and an add?) needs a terminal: without one
      // it fails, writes nothing and still exits 0, so its verdict is read from what it says.
      const said = `${stdout}${stderr}`;
      expect(said, "db/schema changed without a migration: run npm run db:generate").toContain(
        "No schema changes, nothing to migrate",
      );
      expect(readdirSync(out).sort()).toEqual(before);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("leave one of each feed function, as the last migration defines them, whatever 0004 a database first ran", async () => {
    // 0004 is the text that first landed (with sort_at); a fresh database runs it and then 0007
    // and 0024, as an old one runs only those, so both end here: one function a name (0024
    // dropped the five-argument ones its six-argument ones replace; 0037 made feed_posts a call
    // of feed_posts_v2).
    const { rows } = await db.client.query<{ name: string; result: string }>(
      `SELECT p.proname AS name, pg_get_function_result(p.oid) AS result FROM pg_proc p
        WHERE p.pronamespace = 'private'::regnamespace
          AND p.proname IN ('feed_posts', 'feed_posts_v2', 'feed_events', 'feed_communities') ORDER BY 1`,
    );
    expect(rows.map((r) => r.name)).toEqual([
      "feed_communities",
      "feed_events",
      "feed_posts",
      "feed_posts_v2",
    ]);
    for (const r of rows) expect(r.result, r.name).not.toContain("sort_at");
  });

  it("create every index the original design names, under the same name", async () => {
    const { rows } = await db.client.query<{ indexname: string }>(
      "SELECT indexname FROM pg_indexes WHERE schemaname IN ('public', 'private')",
    );
    const names = new Set(rows.map((r) => r.indexname));
    for (const index of ORIGINAL_INDEXES) expect(names, index).toContain(index);
  });

  it("create the per-tenant keyset indexes the feed walks", async () => {
    const { rows } = await db.client.query<{ indexdef: string; indexname: string }>(
      "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN ('idx_posts_tenant_feed', 'idx_events_tenant_upcoming', 'idx_tenant_users_by_user') ORDER BY 1",
    );
    expect(rows.map((r) => r.indexdef)).toEqual([
      expect.stringMatching(/\(tenant_id, start_date, id\) WHERE \(deleted_at IS NULL\)/),
      expect.stringMatching(/\(tenant_id, created_at DESC, id DESC\) WHERE \(deleted_at IS NULL\)/),
      expect.stringMatching(/\(user_id, tenant_id\)/),
    ]);
  });

  it("refuse what users would not expect: bad slugs, upper-case domains, reversed dates", async () => {
    const fails = (text: string) => expect(db.client.query(text)).rejects.toMatchObject({ code: "23514" });
    await fails("INSERT INTO tenants (slug, name) VALUES ('Not A Slug', 'x')");
    await fails("INSERT INTO tenants (slug, name) VALUES ('-bad', 'x')");
    await fails("INSERT INTO tenants (slug, name, domain) VALUES ('okslug', 'x', 'Community.Example.com')");
    await db.client.query(
      "INSERT INTO tenants (id, slug, name) VALUES ('00000000-0000-4000-8000-0000000000f1', 'datecheck', 'x')",
    );
    await fails(
      "INSERT INTO events (tenant_id, title, start_date, end_date) VALUES ('00000000-0000-4000-8000-0000000000f1', 't', now(), now() - interval '1 day')",
    );
  });

  it("stamp updated_at on update unless the statement sets it", async () => {
    await db.client.query(
      "INSERT INTO tenants (id, slug, name, updated_at) VALUES ('00000000-0000-4000-8000-0000000000f2', 'stamp', 'x', '2020-01-01')",
    );
    await db.client.query("UPDATE tenants SET name = 'y' WHERE slug = 'stamp'");
    const touched = await db.client.query(
      "SELECT updated_at > '2021-01-01' AS fresh FROM tenants WHERE slug = 'stamp'",
    );
    expect(touched.rows[0].fresh).toBe(true);
    await db.client.query(
      "UPDATE tenants SET name = 'z', updated_at = '2022-02-02T00:00:00Z' WHERE slug = 'stamp'",
    );
    const kept = await db.client.query(
      "SELECT updated_at = '2022-02-02T00:00:00Z' AS kept FROM tenants WHERE slug = 'stamp'",
    );
    expect(kept.rows[0].kept).toBe(true);
  });

  it("stamp updated_at in commit order: a write that began first but committed last is the newer", async () => {
    // The tenant cache keeps whichever entry has the newer updated_at; now() (the transaction's
    // start) would give the last committed write the older version, and the cache would keep the
    // write it replaced.
    await db.client.query(
      "INSERT INTO tenants (id, slug, name) VALUES ('00000000-0000-4000-8000-0000000000f3', 'order', 'x')",
    );
    const late = new pg.Client({ connectionString: db.url });
    await late.connect();
    try {
      await late.query("BEGIN");
      await late.query("SELECT 1"); // its transaction (and now()) starts here
      await new Promise((r) => setTimeout(r, 20));
      await db.client.query("UPDATE tenants SET name = 'first committed' WHERE slug = 'order'");
      const first = (await db.client.query("SELECT updated_at::text AS v FROM tenants WHERE slug = 'order'"))
        .rows[0].v;
      await late.query("UPDATE tenants SET name = 'last committed' WHERE slug = 'order'");
      await late.query("COMMIT");
      const last = await db.client.query(
        "SELECT name, updated_at > $1::timestamptz AS newer FROM tenants WHERE slug = 'order'",
        [first],
      );
      expect(last.rows[0]).toEqual({ name: "last committed", newer: true });
    } finally {
      await late.end();
    }
  });
});
