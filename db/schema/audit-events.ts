import { sql } from "drizzle-orm";
import { check, index, jsonb, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { createdAt, id } from "./columns";
import { tenants } from "./tenants";
import { users } from "./users";

/**
 * What the audit log records: an operator's changes to a community and its members, a community
 * admin's changes to members, a member leaving, and content removed or edited by someone other
 * than its author (a moderator or an admin removes, an admin edits). An author deleting or
 * editing their own post is their business, not the community's record.
 */
export const AUDIT_ACTIONS = [
  "tenant.created",
  "tenant.updated",
  "tenant.erasure_requested",
  "member.added",
  "member.changed",
  "member.removed",
  "member.left",
  "post.removed",
  "event.removed",
  "comment.removed",
  "post.edited",
  "event.edited",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Operators hold one shared admin token, so the log knows that an operator acted, not which. */
export const AUDIT_ACTORS = ["operator", "member"] as const;
export type AuditActor = (typeof AUDIT_ACTORS)[number];

/** A changed field's value before and after; `from` is null for what a creation set. */
export type AuditChanges = Record<string, { from: unknown; to: unknown }>;

const quoted = (values: readonly string[]) => sql.raw(values.map((v) => `'${v}'`).join(", "));

/**
 * The community's record of who changed what: one row an action, written in the statement or
 * transaction of the change itself, so a change is never without its row nor a row without its
 * change. It holds ids and the changed fields' values, never the content removed.
 */
export const auditEvents = pgTable(
  "audit_events",
  {
    id: id(),
    /** Erasing the community erases its record with it (ON DELETE CASCADE, the tenant row last). */
    tenantId: uuid("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    action: text("action").$type<AuditAction>().notNull(),
    actorKind: text("actor_kind").$type<AuditActor>().notNull(),
    /**
     * The member who acted; null for an operator. Erasing that user keeps the action and forgets
     * who did it (ON DELETE SET NULL): the community's history stays, the person goes.
     */
    actorId: uuid("actor_id").references(() => users.id, { onDelete: "set null" }),
    /** The member a member.* action concerns; forgotten the same way when that user is erased. */
    memberId: uuid("member_id").references(() => users.id, { onDelete: "set null" }),
    /**
     * The post, event or comment a *.removed or *.edited action concerns. No foreign key: removal
     * is a soft delete, and the row may later be purged or erased while the action stays on record.
     */
    contentId: uuid("content_id"),
    changes: jsonb("changes").$type<AuditChanges>(),
    /** The X-Request-Id of the request that made the change, to find its log line. */
    requestId: text("request_id"),
    /**
     * The job that made the change, for one that came through the queue (an edit): the enqueue
     * request's log line names it among its job_ids.
     */
    jobId: uuid("job_id"),
    createdAt: createdAt(),
  },
  (t) => [
    // A community's record newest first, keyset-paged on the time-ordered id.
    index("idx_audit_events_tenant").on(t.tenantId, t.id),
    // A user's erasure sets these to null through the foreign keys: without indexes each erasure
    // scans the whole log. In id order: the pages of the user's export.
    index("idx_audit_events_actor").on(t.actorId, t.id).where(sql`actor_id IS NOT NULL`),
    index("idx_audit_events_member").on(t.memberId, t.id).where(sql`member_id IS NOT NULL`),
    check("audit_events_action", sql`action IN (${quoted(AUDIT_ACTIONS)})`),
    check("audit_events_actor_kind", sql`actor_kind IN (${quoted(AUDIT_ACTORS)})`),
  ],
);

export type AuditEvent = typeof auditEvents.$inferSelect;
