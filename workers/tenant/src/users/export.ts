import { attempt, type DbError, type Queryable } from "../../../common/db";
import { ok, type Result } from "../../../common/result";
import type { ExportPlan, TableSection } from "../exports/stream";

/**
 * Everything the platform holds about one user, for their access request: the user row, their
 * feed selection, and every row that names them, section by section, each row as the table
 * holds it (to_jsonb of the row, so a column added later is exported without a change here).
 *
 * Analytics events are left out, and the export says so: they keep no index on user_id (one
 * would cost every analytics insert, which the consumer's speed target is tight on), so reading
 * a user's would scan every month of them; the erasure leaves them too (README, erasure).
 */

/**
 * Every section has an index that begins with the user's column and goes on with its key
 * (db/migrations/0040); what a row adds from another table is a subquery by primary key, run for
 * a page's rows alone. Activities are a section of their own, not nested in their journey: a
 * journey with 500 long ones would be 60 MB.
 */
export const EXPORT_SECTIONS: readonly TableSection[] = [
  {
    name: "memberships",
    doc: `to_jsonb(tu) || (SELECT jsonb_build_object('tenant_slug', t.slug, 'tenant_name', t.name)
                           FROM public.tenants t WHERE t.id = tu.tenant_id)`,
    from: "public.tenant_users tu",
    owner: "tu.user_id",
    key: ["tu.tenant_id"],
    size: 1_000,
  },
  {
    name: "posts",
    doc: "to_jsonb(x)",
    from: "public.posts x",
    owner: "x.user_id",
    key: ["x.id"],
    size: 1_000,
  },
  {
    name: "events",
    doc: "to_jsonb(x)",
    from: "public.events x",
    owner: "x.created_by",
    key: ["x.id"],
    size: 1_000,
  },
  {
    name: "event_answers",
    doc: `to_jsonb(a) || (SELECT jsonb_build_object('event_title', e.title, 'tenant_id', e.tenant_id)
                          FROM public.events e WHERE e.id = a.event_id)`,
    from: "public.event_attendees a",
    owner: "a.user_id",
    key: ["a.event_id"],
    size: 2_000,
  },
  {
    name: "post_likes",
    doc: `to_jsonb(l) || (SELECT jsonb_build_object('tenant_id', p.tenant_id) FROM public.posts p WHERE p.id = l.post_id)`,
    from: "public.post_likes l",
    owner: "l.user_id",
    key: ["l.post_id"],
    size: 2_000,
  },
  {
    name: "post_comments",
    doc: `to_jsonb(c) || (SELECT jsonb_build_object('tenant_id', p.tenant_id) FROM public.posts p WHERE p.id = c.post_id)`,
    from: "public.post_comments c",
    owner: "c.user_id",
    key: ["c.id"],
    size: 1_000,
  },
  {
    name: "journeys",
    doc: "to_jsonb(x)",
    from: "public.user_journeys x",
    owner: "x.user_id",
    key: ["x.id"],
    size: 200,
  },
  {
    // Journey by journey along the journeys' index, each one's (at most MAX_ACTIVITIES) by the
    // activities' index on journey_id, sorted by id within the journey.
    name: "journey_activities",
    doc: "to_jsonb(a)",
    from: "public.user_journeys j JOIN public.journey_activities a ON a.journey_id = j.id",
    owner: "j.user_id",
    key: ["j.id", "a.id"],
    size: 1_000,
  },
  {
    // Along the inbox index (user_id, created_at DESC, id DESC), oldest first.
    name: "notifications",
    doc: "to_jsonb(x)",
    from: "public.notifications x",
    owner: "x.user_id",
    key: ["x.created_at", "x.id"],
    size: 1_000,
  },
  {
    name: "shared_content",
    doc: "to_jsonb(x)",
    from: "public.content_sharing x",
    owner: "x.shared_by",
    key: ["x.id"],
    size: 2_000,
  },
  {
    // The audit log's entries of what they did as a member, an admin or a moderator.
    name: "audit_log_as_actor",
    doc: "to_jsonb(x)",
    from: "public.audit_events x",
    owner: "x.actor_id",
    key: ["x.id"],
    size: 2_000,
  },
  {
    // Its entries of what was done to their memberships, without who did it: that is the other
    // member's record, which the community's admins and the operators read in the log itself.
    name: "audit_log_as_member",
    doc: "to_jsonb(x) - 'actor_id'",
    from: "public.audit_events x",
    owner: "x.member_id",
    key: ["x.id"],
    size: 2_000,
  },
  {
    name: "dead_jobs",
    doc: "to_jsonb(x)",
    from: "public.dead_jobs x",
    owner: "x.user_id",
    key: ["x.id"],
    size: 500,
  },
];

/**
 * Who asked: an operator answering an access request, or the member for themselves. A member's
 * export leaves out dead jobs, which are the operators' records of jobs that failed: their
 * `error` can hold what the database said, which members are never shown.
 */
export type Audience = "operator" | "member";

/** What the export leaves out, and why: said in the export itself. */
function notIncluded(audience: Audience): Record<string, string> {
  const analytics =
    audience === "operator"
      ? "usage events are kept by user id without an index on it, so they are not read here; an operator reads a user's with SELECT * FROM analytics_events WHERE user_id = '<id>' (a scan of every month kept)"
      : "usage events are kept by user id without an index on it, so they are not read here; the platform's operators can read them for you";
  return audience === "operator"
    ? { analytics_events: analytics }
    : {
        analytics_events: analytics,
        dead_jobs:
          "records of your jobs that failed, kept for the platform's operators; they can read them for you",
      };
}

/** The export's opening: the user and their feed selection, or undefined for no such user. */
export async function exportHead(
  sql: Queryable,
  userId: string,
): Promise<Result<{ user: string; feedSelection: string } | undefined, DbError>> {
  const found = await attempt(() =>
    sql.query<{ user: string; feed_selection: string }>(
      `SELECT to_jsonb(u)::text AS user,
              coalesce((SELECT to_jsonb(v) FROM public.user_view_preferences v WHERE v.user_id = u.id), 'null')::text
                AS feed_selection
         FROM public.users u WHERE u.id = $1`,
      [userId],
    ),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  return ok(row ? { user: row.user, feedSelection: row.feed_selection } : undefined);
}

/** The user's export, from its opening (exportHead) to what it leaves out. */
export function userExport(
  userId: string,
  head: { user: string; feedSelection: string },
  audience: Audience,
): ExportPlan {
  return {
    what: "user",
    subject: userId,
    opening: `"exported_at":${JSON.stringify(new Date().toISOString())},"user":${head.user},"feed_selection":${head.feedSelection}`,
    sections: EXPORT_SECTIONS.filter((s) => audience === "operator" || s.name !== "dead_jobs"),
    closing: `"not_included":${JSON.stringify(notIncluded(audience))}`,
    stillWhole: "SELECT EXISTS (SELECT 1 FROM public.users WHERE id = $1) AS whole",
  };
}
