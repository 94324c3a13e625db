import type { AuditAction, AuditActor, AuditChanges } from "../../../../db/schema/audit-events";
import { ADMIN_ROLES } from "../../../common/authz";
import { attempt, type DbError, type Queryable } from "../../../common/db";
import { pageOf } from "../../../common/pages";
import { err, ok, type Result } from "../../../common/result";

/**
 * The audit log (audit_events, db/schema/audit-events.ts): each change writes its row in its own
 * statement or transaction, so the log holds exactly the changes that committed. These are the
 * pieces the writers share, and the log's one reader.
 */

/**
 * The fields whose values differ between two versions of a row, with both values; a field
 * absent from `before` (a creation) is recorded as coming from null. Fields left as they were
 * are not recorded, so an update that changes nothing records nothing.
 */
export function changesBetween<T extends Record<string, unknown>>(
  before: Partial<T> | null,
  after: T,
  fields: readonly (keyof T & string)[],
): AuditChanges {
  const changes: AuditChanges = {};
  for (const field of fields) {
    const from = before?.[field] ?? null;
    const to = after[field] ?? null;
    if (JSON.stringify(from) !== JSON.stringify(to)) changes[field] = { from, to };
  }
  return changes;
}

/**
 * A CTE that records the removal of a member's content by someone other than its author (a
 * moderator, an admin): the removal statement's `gone` rows, with their `id`, `tenant_id` and
 * author (`authorColumn`). `actor` and `request` are the statement's parameters for the acting
 * user and the request id. An author removing their own content is not recorded.
 */
export function removalAudit(
  action: "post.removed" | "event.removed" | "comment.removed",
  names: { authorColumn: string; actor: string; request: string; tenant?: string },
): string {
  const tenant = names.tenant ?? "g.tenant_id";
  return `audited AS (
    INSERT INTO public.audit_events (tenant_id, action, actor_kind, actor_id, content_id, request_id)
    SELECT ${tenant}, '${action}', 'member', ${names.actor}, g.id, ${names.request}
      FROM gone g WHERE g.${names.authorColumn} <> ${names.actor}
  )`;
}

/** An audit entry as a client is shown it. */
export interface AuditEntry {
  id: string;
  action: AuditAction;
  actor: { kind: AuditActor; user_id: string | null };
  member_id: string | null;
  content_id: string | null;
  changes: AuditChanges | null;
  request_id: string | null;
  job_id: string | null;
  created_at: string;
}

/** Why a community's log was not shown: no such community, or (for a member) not theirs to read. */
export type AuditRefusal = "no_tenant" | "not_member" | "not_admin";

/**
 * Who reads: the operators (any community, active or not, once it exists), or a member, who
 * reads only their active community's, and only as its admin (is_admin, or an admin role).
 */
export type AuditReader = { kind: "operator" } | { kind: "member"; userId: string };

/**
 * `$1` tenant, `$4` reader, `$5` admin roles: one row when the reader may be answered at all (the
 * tenant exists; the member is one of an active community, private.membership), `allowed` when
 * they may read the log.
 */
const READER_SQL: Record<AuditReader["kind"], string> = {
  operator: "SELECT true AS allowed FROM public.tenants t WHERE t.id = $1::uuid",
  member: "SELECT m.admin AS allowed FROM private.membership($1::uuid, $4::uuid, $5::text[]) m",
};

/**
 * Newest first, keyset-paged on the time-ordered id (`$2`, the last id of the page before):
 * the walk of idx_audit_events_tenant. One statement checks the reader and reads the page, so a
 * member who lost their admin role a moment ago is refused at once.
 */
export const auditPageSql = (reader: AuditReader["kind"]) => `WITH reader AS (${READER_SQL[reader]})
  SELECT r.allowed, coalesce((
    SELECT json_agg(p) FROM (
      SELECT e.id, e.action, json_build_object('kind', e.actor_kind, 'user_id', e.actor_id) AS actor,
             e.member_id, e.content_id, e.changes, e.request_id, e.job_id,
             to_json(e.created_at) #>> '{}' AS created_at
        FROM public.audit_events e
       WHERE e.tenant_id = $1::uuid AND ($2::uuid IS NULL OR e.id < $2::uuid)
       ORDER BY e.id DESC LIMIT $3::int
    ) p WHERE r.allowed), '[]'::json) AS entries
  FROM reader r`;

export async function listAudit(
  sql: Queryable,
  tenantId: string,
  reader: AuditReader,
  page: { after?: string; limit: number },
): Promise<Result<{ entries: AuditEntry[]; more: boolean }, AuditRefusal | DbError>> {
  const params: unknown[] = [tenantId, page.after ?? null, page.limit + 1];
  if (reader.kind === "member") params.push(reader.userId, ADMIN_ROLES);
  const found = await attempt(() =>
    sql.query<{ allowed: boolean; entries: AuditEntry[] }>(auditPageSql(reader.kind), params),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (!row) return err(reader.kind === "operator" ? "no_tenant" : "not_member");
  if (!row.allowed) return err("not_admin");
  const { rows, more } = pageOf(row.entries, page.limit);
  return ok({ entries: rows, more });
}
