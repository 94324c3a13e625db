/**
 * The feed's SQL, as plain text and parameters: the worker runs it, and the benchmark and the
 * EXPLAIN tests run the very same statement from Node.
 */

export type FeedType = "posts" | "events";

/** Where the previous page ended: (created_at, id) for posts, (start_date, id) for events. */
export interface Position {
  at: string;
  id: string;
}

/**
 * Users in many communities are served fastest by one walk down the global (created_at, id)
 * index, filtered by community; users in few by a walk down each community's own index, merged.
 * The planner cannot tell the two apart from a parameter, so the statement carries both shapes
 * and a one-time filter on the number of communities runs exactly one of them.
 */
export const GLOBAL_WALK_FROM_TENANTS = 30;

/**
 * Which of the user's communities the feed reads, live from tenant_users (never from the
 * materialized view, which may be minutes old): the requested ones the user belongs to; with
 * none requested, the saved preference; without one, every membership shown in the feed.
 * Inactive tenants never count. $1 user, $2 requested ids or null.
 */
const SELECTED = `
  selected AS MATERIALIZED (
    SELECT tu.tenant_id, t.name
      FROM public.tenant_users tu
      JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
      LEFT JOIN public.user_view_preferences p ON p.user_id = tu.user_id
     WHERE tu.user_id = $1
       AND CASE
             WHEN $2::uuid[] IS NOT NULL THEN tu.tenant_id = ANY($2::uuid[])
             WHEN cardinality(p.selected_tenant_ids) > 0 THEN tu.tenant_id = ANY(p.selected_tenant_ids)
             ELSE tu.display_in_feed
           END
  ),
  selected_count AS MATERIALIZED (SELECT count(*) AS n FROM selected)`;

const FEW = `(SELECT n FROM selected_count) < ${GLOBAL_WALK_FROM_TENANTS}`;
const MANY = `(SELECT n FROM selected_count) >= ${GLOBAL_WALK_FROM_TENANTS}`;
const SELECTED_IDS = "ARRAY(SELECT tenant_id FROM selected)";

/**
 * Timestamps leave as JSON text (microseconds and offset, as the original's jsonb did): a
 * JavaScript Date would cut them to milliseconds and a cursor built from it would skip rows.
 */
const POST_COLUMNS = `p.id, p.tenant_id, t.name AS tenant_name, p.user_id, p.content,
       to_json(p.created_at) #>> '{}' AS created_at, p.total_likes AS likes, p.total_comments AS comments,
       p.created_at AS sort_at`;
const EVENT_COLUMNS = `e.id, e.tenant_id, t.name AS tenant_name, e.title, e.description,
       to_json(e.start_date) #>> '{}' AS start_date, e.location_name, e.image_url, e.start_date AS sort_at`;

const POSTS = `
  WITH ${SELECTED}
  SELECT * FROM (
    SELECT ${POST_COLUMNS}
      FROM selected t
      CROSS JOIN LATERAL (
        SELECT * FROM public.posts p
         WHERE p.tenant_id = t.tenant_id AND p.deleted_at IS NULL
           AND ($3::timestamptz IS NULL OR (p.created_at, p.id) < ($3::timestamptz, $4::uuid))
         ORDER BY p.created_at DESC, p.id DESC
         LIMIT $5
      ) p
     WHERE ${FEW}
     ORDER BY p.created_at DESC, p.id DESC
     LIMIT $5
  ) per_tenant
  UNION ALL
  SELECT * FROM (
    SELECT ${POST_COLUMNS}
      FROM public.posts p
      JOIN public.tenants t ON t.id = p.tenant_id
     WHERE ${MANY}
       AND p.deleted_at IS NULL AND p.tenant_id = ANY(${SELECTED_IDS})
       AND ($3::timestamptz IS NULL OR (p.created_at, p.id) < ($3::timestamptz, $4::uuid))
     ORDER BY p.created_at DESC, p.id DESC
     LIMIT $5
  ) global
  ORDER BY sort_at DESC, id DESC`;

/** Upcoming: from the start of today (UTC), as the original's CURRENT_DATE on a UTC server. */
const UPCOMING = `e.start_date >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;

const EVENTS = `
  WITH ${SELECTED}
  SELECT * FROM (
    SELECT ${EVENT_COLUMNS}
      FROM selected t
      CROSS JOIN LATERAL (
        SELECT * FROM public.events e
         WHERE e.tenant_id = t.tenant_id AND e.deleted_at IS NULL AND ${UPCOMING}
           AND ($3::timestamptz IS NULL OR (e.start_date, e.id) > ($3::timestamptz, $4::uuid))
         ORDER BY e.start_date, e.id
         LIMIT $5
      ) e
     WHERE ${FEW}
     ORDER BY e.start_date, e.id
     LIMIT $5
  ) per_tenant
  UNION ALL
  SELECT * FROM (
    SELECT ${EVENT_COLUMNS}
      FROM public.events e
      JOIN public.tenants t ON t.id = e.tenant_id
     WHERE ${MANY}
       AND e.deleted_at IS NULL AND e.tenant_id = ANY(${SELECTED_IDS}) AND ${UPCOMING}
       AND ($3::timestamptz IS NULL OR (e.start_date, e.id) > ($3::timestamptz, $4::uuid))
     ORDER BY e.start_date, e.id
     LIMIT $5
  ) global
  ORDER BY sort_at, id`;

/** One statement, one round trip: the user's communities and one keyset page over them. */
export function feedQuery(
  type: FeedType,
  userId: string,
  requested: string[] | null,
  after: Position | null,
  limit: number,
): { text: string; params: unknown[] } {
  return {
    text: type === "posts" ? POSTS : EVENTS,
    params: [userId, requested, after?.at ?? null, after?.id ?? null, limit],
  };
}
