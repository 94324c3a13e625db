import { attempt, type DbError } from "../../../common/db";
import { ok, type Result } from "../../../common/result";
import type { MemberMap, Queryable } from "./types";

/**
 * The memberships a batch needs (senders, recipients, editors), live from tenant_users, in one
 * query. Members of inactive tenants are left out: they can no longer act there.
 */
export async function loadMembers(
  pool: Queryable,
  pairs: Iterable<readonly [tenantId: string, userId: string]>,
): Promise<Result<MemberMap, DbError>> {
  const unique = new Map<string, readonly [string, string]>();
  for (const [t, u] of pairs) unique.set(`${t}:${u}`, [t, u]);
  const found = new Map<string, { role: string; is_admin: boolean }>();
  if (unique.size > 0) {
    const tenants = [...unique.values()].map((p) => p[0]);
    const users = [...unique.values()].map((p) => p[1]);
    const result = await attempt(() =>
      pool.query<{ tenant_id: string; user_id: string; role: string; is_admin: boolean }>(
        `SELECT tu.tenant_id, tu.user_id, tu.role, tu.is_admin
           FROM public.tenant_users tu
           JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
          WHERE (tu.tenant_id, tu.user_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))`,
        [tenants, users],
      ),
    );
    if (!result.ok) return result;
    for (const r of result.value.rows)
      found.set(`${r.tenant_id}:${r.user_id}`, { role: r.role, is_admin: r.is_admin });
  }
  return ok({ get: (tenantId, userId) => found.get(`${tenantId}:${userId}`) });
}
