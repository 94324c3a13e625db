import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { BASELINE_SQL, MAKE_ROOM_FOR_BASELINE } from "../../db/local/baseline";
import { cloneDatabase, migrateDatabase, withDatabase } from "../../db/local/migrate";
import { progress, say } from "./progress";
import type { Sizes } from "./types";

/** Bump when the generator changes, so old data sets are not reused. */
const GENERATOR_VERSION = 4;

/** Users whose feeds are measured: members of this many communities (capped by the tenant count). */
export const FEED_USERS = [5, 50, 200] as const;

export const tenantId = (n: number) => uuidOf(`tenant-${n}`);
export const userId = (n: number) => uuidOf(`user-${n}`);
function uuidOf(seed: string): string {
  const h = createHash("md5").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export interface Datasets {
  ours: string;
  original: string;
  sizes: Sizes;
  /** user number -> how many communities it is in (the measured feed users are 1, 2, 3). */
  feedUsers: { user: number; tenants: number }[];
}

const CHUNKS = 20;

/**
 * The statements that fill a database, deterministic (no random(), fixed anchor time), so our
 * database and the original's get identical rows, and a rerun the same data set.
 */
function generators(
  s: Sizes,
  anchor: string,
): { label: string; total: number; chunk: (from: number, to: number) => string }[] {
  const others = Math.max(1, s.users - FEED_USERS.length);
  const ts = `timestamptz '${anchor}'`;
  return [
    {
      label: "tenants",
      total: s.tenants,
      chunk: (a, b) => `INSERT INTO tenants (id, slug, name, logo_url, created_at, updated_at)
        SELECT md5('tenant-' || g)::uuid, 'bench-' || g, 'Community ' || g, 'https://img.example/' || g || '.png', ${ts} - interval '2 years', ${ts} - interval '2 years'
        FROM generate_series(${a}, ${b}) g ON CONFLICT DO NOTHING`,
    },
    {
      label: "users",
      total: s.users,
      chunk: (
        a,
        b,
      ) => `INSERT INTO users (id, email) SELECT md5('user-' || g)::uuid, 'user' || g || '@bench.test'
        FROM generate_series(${a}, ${b}) g ON CONFLICT DO NOTHING`,
    },
    {
      label: "memberships",
      total: s.memberships,
      chunk: (a, b) => `INSERT INTO tenant_users (tenant_id, user_id, role, is_admin, interests)
        SELECT md5('tenant-' || (1 + (g::bigint * 7919 + (g / ${others}) * 104729) % ${s.tenants}))::uuid,
               md5('user-' || (${FEED_USERS.length + 1} + g % ${others}))::uuid,
               CASE WHEN g % 20 = 0 THEN 'admin' ELSE 'member' END, g % 20 = 0, ARRAY['topic' || (g % 13)]
        FROM generate_series(${a}, ${b}) g ON CONFLICT DO NOTHING`,
    },
    {
      label: "posts",
      total: s.posts,
      chunk: (
        a,
        b,
      ) => `INSERT INTO posts (tenant_id, user_id, content, total_likes, total_comments, created_at, updated_at, deleted_at)
        SELECT md5('tenant-' || (1 + (g::bigint * 2654435761) % ${s.tenants}))::uuid,
               md5('user-' || (1 + g % ${s.users}))::uuid, 'Post number ' || g || ' with some words in it', g % 50, g % 7,
               ${ts} - make_interval(secs => (g::bigint * 7919) % (86400 * 180)),
               ${ts} - make_interval(secs => (g::bigint * 7919) % (86400 * 180)),
               CASE WHEN g % 97 = 0 THEN ${ts} END
        FROM generate_series(${a}, ${b}) g`,
    },
    {
      label: "events",
      total: s.events,
      chunk: (
        a,
        b,
      ) => `INSERT INTO events (tenant_id, title, description, start_date, end_date, location_name, deleted_at)
        SELECT md5('tenant-' || (1 + (g::bigint * 40503) % ${s.tenants}))::uuid, 'Event ' || g, 'An event', 
               ${ts} + make_interval(hours => ((g::bigint * 7919) % (24 * 400))::int - 24 * 100),
               ${ts} + make_interval(hours => ((g::bigint * 7919) % (24 * 400))::int - 24 * 100 + 3), 'Hall ' || (g % 40),
               CASE WHEN g % 101 = 0 THEN ${ts} END
        FROM generate_series(${a}, ${b}) g`,
    },
  ];
}

function feedUserMemberships(s: Sizes): { user: number; tenants: number; sql: string }[] {
  return FEED_USERS.map((wanted, i) => {
    const tenants = Math.min(wanted, s.tenants);
    return {
      user: i + 1,
      tenants,
      // 37 steps through the tenants without repeats unless the count is a multiple of 37.
      // Then, as an active member would, they like every third of the 3,000 newest posts of
      // their communities: what each post of their feed is looked up in (whether they like it).
      sql: `INSERT INTO tenant_users (tenant_id, user_id)
        SELECT md5('tenant-' || (1 + (j * 37) % ${s.tenants}))::uuid, md5('user-${i + 1}')::uuid
        FROM generate_series(0, ${tenants - 1}) j ON CONFLICT DO NOTHING;
        INSERT INTO post_likes (post_id, user_id)
        SELECT p.id, md5('user-${i + 1}')::uuid FROM (
          SELECT p.id, row_number() OVER (ORDER BY p.created_at DESC, p.id DESC) AS n FROM posts p
            JOIN tenant_users tu ON tu.tenant_id = p.tenant_id AND tu.user_id = md5('user-${i + 1}')::uuid
           WHERE p.deleted_at IS NULL ORDER BY p.created_at DESC, p.id DESC LIMIT 3000) p
        WHERE p.n % 3 = 0 ON CONFLICT DO NOTHING`,
    };
  });
}

async function fill(url: string, s: Sizes, anchor: string, label: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, options: "-c statement_timeout=0" });
  await client.connect();
  try {
    for (const g of generators(s, anchor)) {
      const bar = progress(`${label}: ${g.total.toLocaleString()} ${g.label}`, g.total);
      const step = Math.max(1, Math.ceil(g.total / CHUNKS));
      for (let from = 1; from <= g.total; from += step) {
        const to = Math.min(g.total, from + step - 1);
        await client.query(g.chunk(from, to));
        bar.tick(to);
      }
      bar.done();
    }
    for (const m of feedUserMemberships(s)) await client.query(m.sql);
    await client.query("VACUUM ANALYZE");
  } finally {
    await client.end();
  }
}

async function exists(adminUrl: string, name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) return false;
  } finally {
    await client.end();
  }
  const db = new pg.Client({ connectionString: withDatabase(adminUrl, name) });
  await db.connect();
  try {
    const done = await db.query("SELECT 1 FROM pg_tables WHERE tablename = 'bench_complete'");
    return (done.rowCount ?? 0) > 0;
  } finally {
    await db.end();
  }
}

async function run(url: string, statements: string[]): Promise<void> {
  const client = new pg.Client({
    connectionString: url,
    options: "-c statement_timeout=0 -c client_min_messages=warning",
  });
  await client.connect();
  try {
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Two databases with the same rows: ours (the project's migrations) and the original's (our
 * tables, without our feed indexes and view, plus ../shared/reference/baseline.sql and the
 * plain indexes any real deployment of it would have). Reused when the sizes match.
 */
export async function prepareDatasets(adminUrl: string, sizes: Sizes): Promise<Datasets> {
  const hash = createHash("sha256")
    .update(JSON.stringify({ sizes, v: GENERATOR_VERSION }))
    .digest("hex")
    .slice(0, 10);
  const names = {
    template: `bench_template_${hash}`,
    ours: `bench_ours_${hash}`,
    original: `bench_original_${hash}`,
  };
  const feedUsers = feedUserMemberships(sizes).map(({ user, tenants }) => ({ user, tenants }));
  const urls = { ours: withDatabase(adminUrl, names.ours), original: withDatabase(adminUrl, names.original) };
  if ((await exists(adminUrl, names.ours)) && (await exists(adminUrl, names.original))) {
    say(`reusing data sets ${names.ours} and ${names.original}`);
    // Migrations added since the data set was made apply to ours (the original's is frozen).
    await migrateDatabase(urls.ours);
    return { ...urls, sizes, feedUsers };
  }
  const anchor = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000).toISOString();
  await run(adminUrl, [
    `DROP DATABASE IF EXISTS ${names.template} WITH (FORCE)`,
    `CREATE DATABASE ${names.template}`,
  ]);
  await migrateDatabase(withDatabase(adminUrl, names.template));
  await cloneDatabase(adminUrl, names.template, names.ours);
  await cloneDatabase(adminUrl, names.template, names.original);
  await run(adminUrl, [`DROP DATABASE IF EXISTS ${names.template} WITH (FORCE)`]);

  await run(urls.original, [
    // Not the original's: our feed indexes and our view go, the plain indexes a deployment of it
    // would have come instead (without them its view takes hours).
    "DROP INDEX idx_posts_tenant_feed, idx_posts_feed_global, idx_events_tenant_upcoming, idx_events_upcoming_global, idx_tenant_users_by_user",
    "CREATE INDEX posts_tenant_created ON posts (tenant_id, created_at)",
    "CREATE INDEX events_tenant_start ON events (tenant_id, start_date)",
    ...MAKE_ROOM_FOR_BASELINE,
  ]);
  await fill(urls.ours, sizes, anchor, "ours");
  await fill(urls.original, sizes, anchor, "original");
  say("building the original's view (its first full refresh)");
  await run(urls.original, [readFileSync(BASELINE_SQL, "utf8"), "ANALYZE"]);
  await run(urls.ours, ["SELECT private.refresh_user_communities()", "ANALYZE"]);
  await run(urls.ours, ["CREATE TABLE bench_complete ()"]);
  await run(urls.original, ["CREATE TABLE bench_complete ()"]);
  return { ...urls, sizes, feedUsers };
}

/** A connection for a benchmark: no statement limit, since baselines legitimately run long. */
export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, options: "-c statement_timeout=0" });
  await client.connect();
  return client;
}

/** Runs `fn` with one connection to each of the two databases, closed afterwards. */
export async function withBoth<T>(
  ds: Datasets,
  fn: (ours: pg.Client, original: pg.Client) => Promise<T>,
): Promise<T> {
  const [ours, original] = await Promise.all([connect(ds.ours), connect(ds.original)]);
  try {
    return await fn(ours, original);
  } finally {
    await Promise.all([ours.end(), original.end()]);
  }
}
