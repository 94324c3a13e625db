import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import { events, posts, tenantUsers } from "../../../../db/schema";
import {
  authorizeContentUpdate,
  authorizeNotification,
  checkEventDates,
  type Denial,
  type MemberRole,
} from "../../../common/authz";
import { attempt, type Db, type DbError } from "../../../common/db";
import type { JobMessage } from "../../../common/jobs";
import { ok, type Result } from "../../../common/result";

/** An operation with its payload, kept as a union so each operation's payload stays typed. */
type Draft = {
  [O in JobMessage["operation"]]: Pick<Extract<JobMessage, { operation: O }>, "operation" | "payload">;
}[JobMessage["operation"]];

/**
 * The enqueue API's check of what the user may enqueue, with the rules the consumer applies
 * again (workers/common/authz.ts). Three queries at most for a whole batch, sent at once: the
 * recipients' memberships and the edited posts' and events' authors.
 */
export async function authorizeJobs(
  db: Db,
  tenantId: string,
  userId: string,
  member: MemberRole,
  drafts: Draft[],
): Promise<Result<(Denial | null)[], DbError>> {
  const recipients = new Set<string>();
  const postIds: string[] = [];
  const eventIds: string[] = [];
  for (const d of drafts) {
    if (d.operation === "send_notifications")
      for (const r of d.payload.recipient_ids ?? []) recipients.add(r);
    if (d.operation === "update_content") {
      (d.payload.content_type === "posts" ? postIds : eventIds).push(d.payload.content_id);
    }
  }
  // Independent lookups, each its own HTTP round trip to Neon: sent together, not in turn.
  const looked = await attempt(async () => {
    const [members, postRows, eventRows] = await Promise.all([
      recipients.size
        ? db
            .select({ id: tenantUsers.userId })
            .from(tenantUsers)
            .where(and(eq(tenantUsers.tenantId, tenantId), inArray(tenantUsers.userId, [...recipients])))
        : [],
      postIds.length
        ? db
            .select({ id: posts.id, tenant_id: posts.tenantId, author: posts.userId })
            .from(posts)
            .where(and(inArray(posts.id, postIds), isNull(posts.deletedAt)))
        : [],
      eventIds.length
        ? db
            .select({
              id: events.id,
              tenant_id: events.tenantId,
              author: events.createdBy,
              startUs: sql<number>`extract(epoch from ${events.startDate}) * 1000000`.mapWith(Number),
              endUs: sql<number | null>`extract(epoch from ${events.endDate}) * 1000000`.mapWith(Number),
            })
            .from(events)
            .where(and(inArray(events.id, eventIds), isNull(events.deletedAt)))
        : [],
    ]);
    return { members, postRows, eventRows };
  });
  if (!looked.ok) return looked;
  const memberIds = new Set(looked.value.members.map((m) => m.id));
  memberIds.add(userId);
  /** Posts and events by kind and id; an event carries its dates, as epoch microseconds. */
  const content = new Map<
    string,
    { tenant_id: string; author: string | null; startUs?: number; endUs?: number | null }
  >([
    ...looked.value.postRows.map((r) => [`posts:${r.id}`, r] as const),
    ...looked.value.eventRows.map((r) => [`events:${r.id}`, r] as const),
  ]);
  return ok(
    drafts.map((d) => {
      if (d.operation === "send_notifications") {
        return authorizeNotification(userId, member, d.payload.recipient_ids ?? [userId], (u) =>
          memberIds.has(u),
        );
      }
      if (d.operation === "update_content") {
        const item = content.get(`${d.payload.content_type}:${d.payload.content_id}`);
        const denial = authorizeContentUpdate(userId, member, item, tenantId);
        if (denial || d.payload.content_type !== "events" || item?.startUs === undefined) return denial;
        return checkEventDates({ startUs: item.startUs, endUs: item.endUs ?? null }, d.payload.updates);
      }
      return null; // analytics: membership, checked by the caller, is enough
    }),
  );
}
