import pg from "pg";
import { DEMO_TENANTS, DEMO_USERS } from "./seed-data";

/**
 * Deterministic demo data, safe to load again: every row has a fixed key and is inserted with
 * ON CONFLICT DO NOTHING, so a re-run changes nothing (and keeps edits made while exploring).
 */
export async function seedDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { acme, globex, initech } = DEMO_TENANTS;
  const { alice, bob, carol } = DEMO_USERS;
  try {
    await client.query("BEGIN");
    for (const t of [acme, globex, initech]) {
      await client.query(
        `INSERT INTO tenants (id, slug, name, domain, is_active, primary_color, settings)
         VALUES ($1, $2, $3, $4, $5, '#0f766e', '{"locale":"en"}') ON CONFLICT DO NOTHING`,
        [t.id, t.slug, t.name, t.domain, t.active],
      );
    }
    // Seeding again brings back a demo user erased while exploring: so that saves of them apply
    // again, their erasure is forgotten.
    await client.query("DELETE FROM provider_users WHERE id = ANY($1) AND erased_at IS NOT NULL", [
      [alice.id, bob.id, carol.id],
    ]);
    for (const u of [alice, bob, carol]) {
      await client.query(
        "INSERT INTO users (id, email, display_name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [u.id, u.email, u.name],
      );
    }
    const memberships: [string, string, string, boolean][] = [
      [acme.id, alice.id, "admin", true],
      [globex.id, alice.id, "member", false],
      [acme.id, bob.id, "member", false],
      [initech.id, bob.id, "member", false],
    ];
    for (const [tenant, user, role, admin] of memberships) {
      await client.query(
        `INSERT INTO tenant_users (tenant_id, user_id, role, is_admin, interests)
         VALUES ($1, $2, $3, $4, '{climbing,running}') ON CONFLICT DO NOTHING`,
        [tenant, user, role, admin],
      );
    }
    // 20 posts per active tenant, one an hour back from a fixed day, ids derived from the index.
    await client.query(
      `INSERT INTO posts (id, tenant_id, user_id, content, created_at)
       SELECT ('c0000000-0000-4000-8000-' || lpad(t.n::text, 4, '0') || lpad(g::text, 8, '0'))::uuid,
              t.id, t.author, t.slug || ' post #' || g, now() - make_interval(hours => g)
       FROM (VALUES (1, $1::uuid, 'acme', $3::uuid), (2, $2::uuid, 'globex', $3::uuid)) AS t(n, id, slug, author),
            generate_series(1, 20) g
       ON CONFLICT DO NOTHING`,
      [acme.id, globex.id, alice.id],
    );
    // Some liked, by members of their community: the counts are the likes' (a trigger keeps them).
    await client.query(
      `INSERT INTO post_likes (post_id, user_id)
       SELECT p.id, tu.user_id FROM posts p JOIN tenant_users tu ON tu.tenant_id = p.tenant_id
        WHERE p.content ~ ' post #' AND p.tenant_id IN ($1, $2)
          AND (substring(p.content from '#(\\d+)$')::int + (tu.user_id = $3)::int) % 3 = 0
       ON CONFLICT DO NOTHING`,
      [acme.id, globex.id, alice.id],
    );
    // And some commented on by the members who did not write them, ids derived so a second seed
    // adds none (and counts none twice: a trigger keeps total_comments too).
    await client.query(
      `INSERT INTO post_comments (id, post_id, user_id, content, created_at)
       SELECT md5(p.id::text || tu.user_id::text)::uuid, p.id, tu.user_id,
              'Count me in for the next one (' || p.content || ')', p.created_at + interval '10 minutes'
         FROM posts p JOIN tenant_users tu ON tu.tenant_id = p.tenant_id AND tu.user_id <> p.user_id
        WHERE p.content ~ ' post #' AND p.tenant_id IN ($1, $2)
          AND substring(p.content from '#(\\d+)$')::int % 4 = 1
       ON CONFLICT DO NOTHING`,
      [acme.id, globex.id],
    );
    await client.query(
      `INSERT INTO events (id, tenant_id, created_by, title, description, start_date, end_date, location_name)
       SELECT ('d0000000-0000-4000-8000-' || lpad(t.n::text, 4, '0') || lpad(g::text, 8, '0'))::uuid,
              t.id, $3::uuid, t.slug || ' meetup #' || g, 'Monthly meetup',
              date_trunc('day', now()) + make_interval(days => 7 * g),
              date_trunc('day', now()) + make_interval(days => 7 * g, hours => 3), 'Town hall'
       FROM (VALUES (1, $1::uuid, 'acme'), (2, $2::uuid, 'globex')) AS t(n, id, slug), generate_series(1, 5) g
       ON CONFLICT DO NOTHING`,
      [acme.id, globex.id, alice.id],
    );
    await client.query(
      `INSERT INTO user_journeys (id, user_id, tenant_id, title, status, locations, start_date, end_date, is_public)
       VALUES ('e0000000-0000-4000-8000-000000000001', $1, $2, 'Alps traverse', 'planning',
               '[{"name":"Chamonix"},{"name":"Zermatt"}]', current_date + 30, current_date + 44, true)
       ON CONFLICT DO NOTHING`,
      [alice.id, acme.id],
    );
    await client.query(
      `INSERT INTO journey_activities (id, journey_id, tenant_id, activity_type, title, start_datetime, end_datetime)
       SELECT ('f0000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'e0000000-0000-4000-8000-000000000001',
              $1, 'hike', 'Stage ' || g, (current_date + 30 + g)::timestamptz, (current_date + 30 + g)::timestamptz + interval '8 hours'
       FROM generate_series(1, 5) g
       ON CONFLICT DO NOTHING`,
      [acme.id],
    );
    await client.query("COMMIT");
    await client.query("SELECT private.refresh_user_communities()");
  } catch (e) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  } finally {
    await client.end();
  }
}
