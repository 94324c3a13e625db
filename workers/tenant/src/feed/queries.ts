import { attempt, type DbError, type Queryable } from "../../../common/db";
import { pageOf } from "../../../common/pages";
import { ok, type Result } from "../../../common/result";
import { type FeedType, feedQuery, type Position } from "./sql";

export type FeedItem = Record<string, unknown> & { id: string };

export interface FeedPage {
  items: FeedItem[];
  /** Where the next page starts, when this one was full. */
  next: Position | null;
}

/**
 * The user's communities (live) and one keyset page over them, in one statement; one row past
 * the page says whether another follows (pageOf), and so does a page its size cut short.
 */
export async function readFeed(
  sql: Queryable,
  userId: string,
  type: FeedType,
  requested: string[] | null,
  after: Position | null,
  limit: number,
): Promise<Result<FeedPage, DbError>> {
  const query = feedQuery(type, userId, requested, after, limit);
  const found = await attempt(() => sql.query<FeedItem | { id: null }>(query.text, query.params));
  if (!found.ok) return found;
  const rows = found.value.rows.filter((row): row is FeedItem => row.id !== null);
  const page = pageOf(rows, limit);
  const more = page.more || rows.length < found.value.rows.length;
  const items: FeedItem[] = page.rows.map((row) => ({
    ...row,
    content_type: type === "posts" ? "post" : "event",
  }));
  const last: Record<string, unknown> | undefined = more ? items.at(-1) : undefined;
  const at = last?.[type === "posts" ? "created_at" : "start_date"];
  const id = last?.id;
  return ok({ items, next: typeof at === "string" && typeof id === "string" ? { at, id } : null });
}

export interface Community {
  tenant_id: string;
  name: string;
  slug: string;
  logo_url: string | null;
  role: string;
  is_admin: boolean;
  display_in_feed: boolean;
  notifications: NotificationSettings;
  expertise_level: string | null;
  interests: string[];
  member_count: number | null;
  recent_activity_count: number | null;
}

/**
 * What of a community's notifications the member does not want, kept in
 * tenant_users.notification_preferences: the batch worker writes none of them for the member
 * (send_notifications, db/migrations/0030).
 */
export interface NotificationSettings {
  muted: boolean;
  muted_types: string[];
}

/** A community as the caller sees it: tenant t, their membership tu, counts from the view mv. */
const COMMUNITY_COLUMNS = `t.id AS tenant_id, t.name, t.slug, t.logo_url, tu.role, tu.is_admin, tu.display_in_feed,
       json_build_object(
         'muted', tu.notification_preferences @> '{"muted": true}',
         'muted_types', CASE WHEN jsonb_typeof(tu.notification_preferences -> 'muted_types') = 'array'
                             THEN tu.notification_preferences -> 'muted_types' ELSE '[]'::jsonb END
       ) AS notifications, tu.expertise_level, tu.interests,
       mv.member_count::int AS member_count, mv.recent_activity_count::int AS recent_activity_count`;

/** Where a page of communities ends: the last one's name and id (the order's keys). */
export interface CommunityPosition {
  name: string;
  id: string;
}

/**
 * Memberships come from the live table (a community just joined is listed, one just left is
 * not); the counts come from the view, so they may lag, and are null until the view has them.
 * Keyset pages in (name, id) order: one row past the page says whether another follows.
 */
export async function readCommunities(
  sql: Queryable,
  userId: string,
  after: CommunityPosition | null,
  limit: number,
): Promise<Result<{ communities: Community[]; dataAsOf: string | null; more: boolean }, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<Community & { data_as_of: string | null }>(
      `SELECT ${COMMUNITY_COLUMNS},
              (SELECT to_json(refreshed_at) #>> '{}' FROM private.view_refreshes
                WHERE view_name = 'private.mv_user_communities') AS data_as_of
         FROM public.tenant_users tu
         JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
         LEFT JOIN private.mv_user_communities mv ON mv.user_id = tu.user_id AND mv.tenant_id = tu.tenant_id
        WHERE tu.user_id = $1
          AND ($2::text IS NULL OR (t.name, t.id) > ($2::text, $3::uuid))
        ORDER BY t.name, t.id
        LIMIT $4`,
      [userId, after?.name ?? null, after?.id ?? null, limit + 1],
    );
    const dataAsOf = rows[0]?.data_as_of ?? null;
    const page = pageOf(rows, limit);
    return { communities: page.rows.map(({ data_as_of: _, ...c }) => c), dataAsOf, more: page.more };
  });
}

/** What a member changes of one of their communities: the fields named. */
export interface CommunityChange {
  display_in_feed?: boolean;
  notifications?: Partial<NotificationSettings>;
  expertise_level?: string | null;
  interests?: string[];
}

/**
 * Changes one of the user's communities as they have it: shows or hides it in their feed
 * (display_in_feed: what the feed reads with no selection saved), mutes its notifications or
 * some types of them, says what they bring to it (expertise, interests). The notification
 * settings named replace theirs; others, and keys of the preferences this API does not know,
 * are kept. Undefined when it is not theirs, or not active.
 */
export async function changeCommunity(
  sql: Queryable,
  userId: string,
  tenantId: string,
  change: CommunityChange,
): Promise<Result<Community | undefined, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<Community>(
      `WITH changed AS (
         UPDATE public.tenant_users tu
            SET display_in_feed = coalesce($3::boolean, tu.display_in_feed),
                expertise_level = CASE WHEN $5::boolean THEN $6::text ELSE tu.expertise_level END,
                interests = coalesce($7::text[], tu.interests),
                notification_preferences = CASE WHEN jsonb_typeof(tu.notification_preferences) = 'object'
                                                THEN tu.notification_preferences ELSE '{}'::jsonb END || $4::jsonb
           FROM public.tenants t
          WHERE tu.user_id = $1 AND tu.tenant_id = $2 AND t.id = tu.tenant_id AND t.is_active
         RETURNING tu.*
       )
       SELECT ${COMMUNITY_COLUMNS}
         FROM changed tu
         JOIN public.tenants t ON t.id = tu.tenant_id
         LEFT JOIN private.mv_user_communities mv ON mv.user_id = tu.user_id AND mv.tenant_id = tu.tenant_id`,
      [
        userId,
        tenantId,
        change.display_in_feed ?? null,
        JSON.stringify(change.notifications ?? {}),
        // null is a value here (no expertise), so whether it is named goes apart.
        "expertise_level" in change,
        change.expertise_level ?? null,
        change.interests ?? null,
      ],
    );
    return rows[0];
  });
}

/** The communities a user's feed shows when a request names none (user_view_preferences). */
export interface FeedSelection {
  tenant_ids: string[];
  updated_at: string | null;
}

export async function readSelection(sql: Queryable, userId: string): Promise<Result<FeedSelection, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<FeedSelection>(
      `SELECT selected_tenant_ids AS tenant_ids, to_json(updated_at) #>> '{}' AS updated_at
         FROM public.user_view_preferences WHERE user_id = $1`,
      [userId],
    );
    return rows[0] ?? { tenant_ids: [], updated_at: null };
  });
}

/**
 * Saves the selection, or with no ids removes it (the feed then shows every community marked
 * for it). Only the user's own communities may be chosen: the ids of others come back as
 * `strangers` and nothing is saved. A selection of communities the user has all left since
 * leaves their feed empty, as the feed's rule says (the saved selection, if any), until they
 * choose again.
 */
export async function saveSelection(
  sql: Queryable,
  userId: string,
  tenantIds: string[],
): Promise<Result<FeedSelection | { strangers: string[] }, DbError>> {
  return attempt(async () => {
    if (tenantIds.length === 0) {
      await sql.query("DELETE FROM public.user_view_preferences WHERE user_id = $1", [userId]);
      return { tenant_ids: [], updated_at: null };
    }
    const { rows } = await sql.query<{ strangers: string[] | null; updated_at: string | null }>(
      `WITH strangers AS (
         SELECT w.id FROM unnest($2::uuid[]) AS w(id)
          WHERE NOT EXISTS (SELECT 1 FROM public.tenant_users tu WHERE tu.user_id = $1 AND tu.tenant_id = w.id)
       ), saved AS (
         INSERT INTO public.user_view_preferences AS p (user_id, selected_tenant_ids)
         SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM strangers)
         ON CONFLICT (user_id) DO UPDATE SET selected_tenant_ids = excluded.selected_tenant_ids, updated_at = now()
         RETURNING p.updated_at
       )
       SELECT (SELECT array_agg(id ORDER BY id) FROM strangers) AS strangers,
              (SELECT to_json(updated_at) #>> '{}' FROM saved) AS updated_at`,
      [userId, tenantIds],
    );
    const [row] = rows;
    if (row?.strangers) return { strangers: row.strangers };
    return { tenant_ids: tenantIds, updated_at: row?.updated_at ?? null };
  });
}
