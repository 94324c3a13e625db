import { ADMIN_MEMBER_ROLES } from "../../db/schema/tenant-users";
import { microsOf } from "./time";

/**
 * Who may enqueue what. The enqueue API applies these functions (and answers 403); the batch
 * consumer, which is authoritative, applies the same rules inside its write functions
 * (db/migrations/0006_consumer_functions.sql), so a batch is judged and written in one round
 * trip; the batch tests hold the two to the same verdicts. Memberships of inactive tenants never count.
 */
export interface MemberRole {
  role: string;
  is_admin: boolean;
}

/** Roles that administer a community, besides the is_admin flag. */
export const ADMIN_ROLES: readonly string[] = ADMIN_MEMBER_ROLES;

function isTenantAdmin(m: MemberRole | null | undefined): boolean {
  return !!m && (m.is_admin || ADMIN_ROLES.includes(m.role));
}

export type Denial =
  | "not_member"
  | "not_admin"
  | "recipient_not_member"
  | "not_author"
  | "not_moderator"
  | "no_such_content"
  | "end_before_start";

export const DENIAL_MESSAGES: Record<Denial, string> = {
  not_member: "only members of this community can do that",
  not_admin: "only community admins can notify other members",
  recipient_not_member: "every recipient must be a member of this community",
  not_author: "only the author or a community admin can change this",
  not_moderator: "only the author, a moderator or a community admin can delete this",
  no_such_content: "no such post or event in this community",
  end_before_start: "an event cannot end before it starts (counting the dates this edit leaves as they are)",
};

/** Notifying yourself needs membership; notifying anyone else needs admin, and members only. */
export function authorizeNotification(
  senderId: string,
  sender: MemberRole | null | undefined,
  recipients: readonly string[],
  isMember: (userId: string) => boolean,
): Denial | null {
  if (!sender) return "not_member";
  if (recipients.some((r) => r !== senderId) && !isTenantAdmin(sender)) return "not_admin";
  if (recipients.some((r) => !isMember(r))) return "recipient_not_member";
  return null;
}

/** Editing content needs its author or a tenant admin, and the content must be the tenant's own. */
export function authorizeContentUpdate(
  actorId: string,
  actor: MemberRole | null | undefined,
  content: { tenant_id: string; author: string | null } | undefined,
  tenantId: string,
): Denial | null {
  if (!actor) return "not_member";
  if (!content || content.tenant_id !== tenantId) return "no_such_content";
  if (content.author !== actorId && !isTenantAdmin(actor)) return "not_author";
  return null;
}

/** Roles that may delete anyone's content in their community, besides its admins' powers. */
export const MODERATOR_ROLES: readonly string[] = [...ADMIN_ROLES, "moderator"];

/**
 * Deleting content: as editing it, or a moderator, whose one power this is: taking down what
 * breaks a community's rules, never rewriting what someone said.
 */
export function authorizeContentDeletion(
  actorId: string,
  actor: MemberRole | null | undefined,
  content: { tenant_id: string; author: string | null } | undefined,
  tenantId: string,
): Denial | null {
  const denial = authorizeContentUpdate(actorId, actor, content, tenantId);
  if (denial !== "not_author") return denial;
  return actor && MODERATOR_ROLES.includes(actor.role) ? null : "not_moderator";
}

/**
 * An event edit must not leave the event ending before it starts, counting the dates the edit
 * leaves as they are (the events_end_after_start check). Applied after authorizeContentUpdate,
 * as the consumer's judging does (db/migrations/0010). Times in microseconds, as Postgres keeps
 * them: compared to the millisecond, an end a fraction of one after the start was refused here
 * and taken there.
 */
export function checkEventDates(
  current: { startUs: number; endUs: number | null },
  updates: { start_date?: string; end_date?: string | null },
): Denial | null {
  const start = updates.start_date === undefined ? current.startUs : microsOf(updates.start_date);
  const end =
    updates.end_date === undefined
      ? current.endUs
      : updates.end_date === null
        ? null
        : microsOf(updates.end_date);
  return end !== null && end < start ? "end_before_start" : null;
}
