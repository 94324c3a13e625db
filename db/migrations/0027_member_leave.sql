-- Hand-written: a PL/pgSQL function, which drizzle cannot express.
--
-- A member leaves a community on their own (DELETE /v1/me/communities/{tenant_id}), except its
-- last admin (is_admin, or a role in p_admin_roles: workers/common/authz.ts ADMIN_ROLES, passed
-- in so the rule is written once): a community nobody runs could never get an admin again but
-- through the operators. Two admins leaving at once must not both pass for "another admin is
-- left", so the call locks the tenant's row first and decides in statements of its own, each
-- with a snapshot taken after the lock: one statement would have judged with a snapshot taken
-- before it waited, and not seen the other's leave. FOR NO KEY UPDATE: it waits for another
-- leave or a tenant update, never for an insert that only references the tenant.
-- Outcomes: left, not_member (no such membership, or the community is not active), last_admin.
CREATE OR REPLACE FUNCTION private.leave_community(p_tenant uuid, p_user uuid, p_admin_roles text[])
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_admin boolean;
BEGIN
  PERFORM 1 FROM public.tenants t WHERE t.id = p_tenant AND t.is_active FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN 'not_member';
  END IF;
  SELECT tu.is_admin OR tu.role = ANY (p_admin_roles) INTO v_admin
    FROM public.tenant_users tu WHERE tu.tenant_id = p_tenant AND tu.user_id = p_user;
  IF NOT FOUND THEN
    RETURN 'not_member';
  END IF;
  IF v_admin AND NOT EXISTS (
    SELECT 1 FROM public.tenant_users tu
     WHERE tu.tenant_id = p_tenant AND tu.user_id <> p_user
       AND (tu.is_admin OR tu.role = ANY (p_admin_roles))
  ) THEN
    RETURN 'last_admin';
  END IF;
  DELETE FROM public.tenant_users tu WHERE tu.tenant_id = p_tenant AND tu.user_id = p_user;
  RETURN 'left';
END
$$;
