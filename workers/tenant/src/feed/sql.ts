/**
 * The feed's SQL, as plain text and parameters: the worker runs it, and the benchmark and the
 * EXPLAIN tests run the very same statements from Node.
 */

export type FeedType = "posts" | "events";

/** Where the previous page ended: (created_at, id) for posts, (start_date, id) for events. */
export interface Position {
  at: string;
  id: string;
}

/**
 * Which of the user's communities the feed reads, live from tenant_users (never from the
 * materialized view, which may be minutes old): the requested ones the user belongs to; with
 * none requested, the saved preference; without one, every membership shown in the feed.
 * Inactive tenants never count.
 */
export const SELECT_FEED_TENANTS = `
  SELECT tu.tenant_id
    FROM public.tenant_users tu
    JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
    LEFT JOIN public.user_view_preferences p ON p.user_id = tu.user_id
   WHERE tu.user_id = $1
     AND CASE
           WHEN $2::uuid[] IS NOT NULL THEN tu.tenant_id = ANY($2::uuid[])
           WHEN cardinality(p.selected_tenant_ids) > 0 THEN tu.tenant_id = ANY(p.selected_tenant_ids)
           ELSE tu.display_in_feed
         END`;

/**
 * Users in many communities are served fastest by one walk down the global (created_at, id)
 * index, filtered by tenant; users in few by a walk down each tenant's own index, merged. The
 * planner cannot tell the two apart from a parameter, so the shape is chosen here.
 */
export const GLOBAL_WALK_FROM_TENANTS = 30;

/**
 * Timestamps leave as JSON text (microseconds and offset, as the original's jsonb did): a
 * JavaScript Date would cut them to milliseconds and a cursor built from it would skip rows.
 */
const POST_COLUMNS = `p.id, p.tenant_id, t.name AS tenant_name, p.user_id, p.content,
       to_json(p.created_at) #>> '{}' AS created_at, p.total_likes AS likes, p.total_comments AS comments`;
const EVENT_COLUMNS = `e.id, e.tenant_id, t.name AS tenant_name, e.title, e.description,
       to_json(e.start_date) #>> '{}' AS start_date, e.location_name, e.image_url`;

const POSTS_PER_TENANT = `
  SELECT ${POST_COLUMNS}
    FROM unnest($1::uuid[]) AS s(tenant_id)
    CROSS JOIN LATERAL (
      SELECT * FROM public.posts p
       WHERE p.tenant_id = s.tenant_id AND p.deleted_at IS NULL
         AND ($2::timestamptz IS NULL OR (p.created_at, p.id) < ($2::timestamptz, $3::uuid))
       ORDER BY p.created_at DESC, p.id DESC
       LIMIT $4
    ) p
    JOIN public.tenants t ON t.id = p.tenant_id
   ORDER BY p.created_at DESC, p.id DESC
   LIMIT $4`;

const POSTS_GLOBAL = `
  SELECT ${POST_COLUMNS}
    FROM public.posts p
    JOIN public.tenants t ON t.id = p.tenant_id
   WHERE p.deleted_at IS NULL AND p.tenant_id = ANY($1::uuid[])
     AND ($2::timestamptz IS NULL OR (p.created_at, p.id) < ($2::timestamptz, $3::uuid))
   ORDER BY p.created_at DESC, p.id DESC
   LIMIT $4`;

/** Upcoming: from the start of today (UTC), as the original's CURRENT_DATE on a UTC server. */
const UPCOMING = `e.start_date >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;

const EVENTS_PER_TENANT = `
  SELECT ${EVENT_COLUMNS}
    FROM unnest($1::uuid[]) AS s(tenant_id)
    CROSS JOIN LATERAL (
      SELECT * FROM public.events e
       WHERE e.tenant_id = s.tenant_id AND e.deleted_at IS NULL AND ${UPCOMING}
         AND ($2::timestamptz IS NULL OR (e.start_date, e.id) > ($2::timestamptz, $3::uuid))
       ORDER BY e.start_date, e.id
       LIMIT $4
    ) e
    JOIN public.tenants t ON t.id = e.tenant_id
   ORDER BY e.start_date, e.id
   LIMIT $4`;

const EVENTS_GLOBAL = `
  SELECT ${EVENT_COLUMNS}
    FROM public.events e
    JOIN public.tenants t ON t.id = e.tenant_id
   WHERE e.deleted_at IS NULL AND e.tenant_id = ANY($1::uuid[]) AND ${UPCOMING}
     AND ($2::timestamptz IS NULL OR (e.start_date, e.id) > ($2::timestamptz, $3::uuid))
   ORDER BY e.start_date, e.id
   LIMIT $4`;

export function feedPageQuery(
  type: FeedType,
  tenantIds: string[],
  after: Position | null,
  limit: number,
): { text: string; params: unknown[]; shape: "per_tenant" | "global" } {
  const global = tenantIds.length >= GLOBAL_WALK_FROM_TENANTS;
  const text =
    type === "posts"
      ? global
        ? POSTS_GLOBAL
        : POSTS_PER_TENANT
      : global
        ? EVENTS_GLOBAL
        : EVENTS_PER_TENANT;
  return {
    text,
    params: [tenantIds, after?.at ?? null, after?.id ?? null, limit],
    shape: global ? "global" : "per_tenant",
  };
}
