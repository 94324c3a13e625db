/**
 * The authorisation rules of workers/common/authz.ts as SQL, for the consumer's statements that
 * judge and write a batch in one round trip (a Worker pays a round trip per statement). Keep the
 * two in step: the batch tests hold the consumer to authz.ts's verdicts case by case.
 */

/**
 * A lateral subquery: one row `(member true, admin)` when `user` belongs to `tenant` and the
 * community is active, none otherwise. `roles` is the placeholder bound to ADMIN_ROLES.
 */
export const MEMBERSHIP = (tenant: string, user: string, roles: string) =>
  `SELECT true AS member, (tu.is_admin OR tu.role = ANY(${roles}::text[])) AS admin
     FROM public.tenant_users tu JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
    WHERE tu.tenant_id = ${tenant} AND tu.user_id = ${user}`;
