import { attempt, type DbError, type Queryable } from "../../../common/db";
import { err, ok, type Result } from "../../../common/result";
import type { ChildSection, ExportPlan, Section } from "../exports/stream";

/**
 * Everything a community holds, for the day it leaves the platform (before its erasure) or asks
 * for its data: the tenant row, its members, its live posts and events with their comments,
 * likes, answers and shares, its public journeys with their activities, and its usage events,
 * each row as its table holds it (to_jsonb, so a column added later is exported without a
 * change here). For operators only: members' emails are in it.
 *
 * Each section walks an index that starts with the community (the feed's, the calendar's, the
 * public journeys', the members' key, analytics' by tenant and time, the audit log's), and a child section each
 * parent's own (comments by post, likes by post, answers by event, shares by content, activities
 * by journey): nothing scans another community's rows.
 */

type Parent = ChildSection["parent"];

/** Newest first, along the feed's index (idx_posts_tenant_feed). */
const LIVE_POSTS: Parent = {
  from: "public.posts p",
  owner: "p.tenant_id",
  where: "p.deleted_at IS NULL",
  key: ["p.created_at", "p.id"],
  descending: true,
  id: "p.id",
};

/** Soonest first, along the calendar's index (idx_events_tenant_upcoming). */
const LIVE_EVENTS: Parent = {
  from: "public.events e",
  owner: "e.tenant_id",
  where: "e.deleted_at IS NULL",
  key: ["e.start_date", "e.id"],
  id: "e.id",
};

/** Newest first, along the public journeys' index (idx_user_journeys_public). */
const PUBLIC_JOURNEYS: Parent = {
  from: "public.user_journeys j",
  owner: "j.tenant_id",
  where: "j.is_public = true",
  key: ["j.created_at", "j.id"],
  descending: true,
  id: "j.id",
};

/** Where the community's posts or events were shared, along content_sharing_once. */
const sharesOf = (name: string, parent: Parent, type: "posts" | "events"): ChildSection => ({
  name,
  doc: "to_jsonb(s)",
  parent,
  from: "public.content_sharing s",
  of: "s.content_id",
  where: `s.content_type = '${type}'`,
  key: ["s.target_tenant_id"],
  size: 2_000,
});

export const COMMUNITY_SECTIONS: readonly Section[] = [
  {
    name: "members",
    doc: `to_jsonb(tu) || (SELECT jsonb_build_object('email', u.email, 'display_name', u.display_name)
                           FROM public.users u WHERE u.id = tu.user_id)`,
    from: "public.tenant_users tu",
    owner: "tu.tenant_id",
    key: ["tu.user_id"],
    size: 2_000,
  },
  { name: "posts", doc: "to_jsonb(p)", ...LIVE_POSTS, size: 1_000 },
  {
    name: "post_comments",
    doc: "to_jsonb(c)",
    parent: LIVE_POSTS,
    from: "public.post_comments c",
    of: "c.post_id",
    key: ["c.created_at", "c.id"],
    size: 1_000,
  },
  {
    name: "post_likes",
    doc: "to_jsonb(l)",
    parent: LIVE_POSTS,
    from: "public.post_likes l",
    of: "l.post_id",
    key: ["l.user_id"],
    size: 2_000,
  },
  sharesOf("post_shares", LIVE_POSTS, "posts"),
  { name: "events", doc: "to_jsonb(e)", ...LIVE_EVENTS, size: 1_000 },
  {
    name: "event_answers",
    doc: "to_jsonb(a)",
    parent: LIVE_EVENTS,
    from: "public.event_attendees a",
    of: "a.event_id",
    key: ["a.user_id"],
    size: 2_000,
  },
  sharesOf("event_shares", LIVE_EVENTS, "events"),
  { name: "journeys", doc: "to_jsonb(j)", ...PUBLIC_JOURNEYS, size: 200 },
  {
    // Along idx_journey_activities_date_range (journey, start): at most MAX_ACTIVITIES a journey.
    name: "journey_activities",
    doc: "to_jsonb(a)",
    parent: PUBLIC_JOURNEYS,
    from: "public.journey_activities a",
    of: "a.journey_id",
    key: ["a.start_datetime", "a.id"],
    size: 1_000,
  },
  {
    // Month by month along idx_analytics_events_tenant_time; the id orders one instant's.
    name: "analytics_events",
    doc: "to_jsonb(x)",
    from: "public.analytics_events x",
    owner: "x.tenant_id",
    key: ["x.created_at", "x.id"],
    size: 2_000,
  },
  {
    // Oldest first along idx_audit_events_tenant: ids only, no content.
    name: "audit_log",
    doc: "to_jsonb(x)",
    from: "public.audit_events x",
    owner: "x.tenant_id",
    key: ["x.id"],
    size: 2_000,
  },
];

/** What the export leaves out, and why: said in the export itself. */
const NOT_INCLUDED: Record<string, string> = {
  deleted_content:
    "posts and events deleted in the community, with their comments, likes, answers and shares: deleted there, they are gone from it (a user's export still holds their own)",
  private_journeys: "journeys their members keep private: each member's own, in that member's export",
  notifications: "members' inboxes: each member's own, in that member's export",
  shared_into: "other communities' posts and events shared into this one: theirs to export",
  dead_jobs:
    "records of the community's failed jobs, the operators' own: GET /admin/dead-jobs on the batch worker lists them",
};

/**
 * The export's opening: the tenant row as JSON text. Refused ("erasing") once the community's
 * erasure was asked for, which the batch worker may already have begun: an export then would
 * miss what is gone and still end `"complete": true`.
 */
export async function tenantExportHead(
  sql: Queryable,
  tenantId: string,
): Promise<Result<string, DbError | { kind: "not_found" } | { kind: "erasing" }>> {
  const found = await attempt(() =>
    sql.query<{ tenant: string; erasing: boolean }>(
      `SELECT to_jsonb(t)::text AS tenant, t.erasure_requested_at IS NOT NULL AS erasing
         FROM public.tenants t WHERE t.id = $1`,
      [tenantId],
    ),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (!row) return err({ kind: "not_found" });
  return row.erasing ? err({ kind: "erasing" }) : ok(row.tenant);
}

export function communityExport(tenantId: string, tenant: string): ExportPlan {
  return {
    what: "community",
    subject: tenantId,
    opening: `"exported_at":${JSON.stringify(new Date().toISOString())},"tenant":${tenant}`,
    sections: COMMUNITY_SECTIONS,
    closing: `"not_included":${JSON.stringify(NOT_INCLUDED)}`,
    stillWhole:
      "SELECT EXISTS (SELECT 1 FROM public.tenants WHERE id = $1 AND erasure_requested_at IS NULL) AS whole",
  };
}
