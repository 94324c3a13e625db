-- Hand-written: a PL/pgSQL function, which drizzle cannot express.
--
-- A community's admins manage its members (PATCH and DELETE /v1/members/{user_id}); until now
-- only operators could, so an owner could neither remove a spammer nor name a second admin.
-- The rules, each a refusal this returns (in this order, so a non-admin learns nothing of the
-- member they named):
--   no_tenant       the community is not active (or not there);
--   not_member      the actor is not a member;
--   not_admin       the actor is no admin (is_admin, or a role in p_admin_roles:
--                   workers/common/authz.ts ADMIN_ROLES, passed in so the rule is written once),
--                   and is not removing themselves: anyone may leave;
--   no_such_member  the target is not a member;
--   owner_only      only an owner changes or removes an owner, or makes one, so an admin cannot
--                   take a community from the people who own it;
--   last_admin      the change would leave the community with no admin (the actor demoting or
--                   removing themselves, since only admins get this far for others): nobody
--                   could then name one but the operators.
-- A new role replaces the older is_admin flag too (set false): the role a community admin picks
-- is then all that says what the member may do; operators still set both (PUT /admin/...).
--
-- Leaving (DELETE /v1/me/communities/{tenant_id}) is the actor removing themselves, so it is
-- this function now: one place holds the last-admin rule and its lock. 0027's leave_community
-- stays for workers still running the code before this (migrations run before their deploy);
-- nothing calls it after, and a later migration can drop it. As there,
-- the call locks the tenant's row first and decides in statements of their own, each with a
-- snapshot taken after the lock: two admins demoting each other, or both leaving, must not both
-- see the other still an admin. FOR NO KEY UPDATE: it waits for another change of members or a
-- tenant update, never for an insert that only references the tenant.
CREATE OR REPLACE FUNCTION private.manage_member(
  p_tenant uuid, p_actor uuid, p_target uuid, p_role text, p_admin_roles text[]
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_actor public.tenant_users%ROWTYPE;
  v_target public.tenant_users%ROWTYPE;
BEGIN
  PERFORM 1 FROM public.tenants t WHERE t.id = p_tenant AND t.is_active FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN 'no_tenant';
  END IF;
  SELECT * INTO v_actor FROM public.tenant_users tu WHERE tu.tenant_id = p_tenant AND tu.user_id = p_actor;
  IF NOT FOUND THEN
    RETURN 'not_member';
  END IF;
  IF NOT (v_actor.is_admin OR v_actor.role = ANY (p_admin_roles))
     AND NOT (p_actor = p_target AND p_role IS NULL) THEN
    RETURN 'not_admin';
  END IF;
  SELECT * INTO v_target FROM public.tenant_users tu WHERE tu.tenant_id = p_tenant AND tu.user_id = p_target;
  IF NOT FOUND THEN
    RETURN 'no_such_member';
  END IF;
  IF (v_target.role = 'owner' OR p_role = 'owner') AND v_actor.role <> 'owner' THEN
    RETURN 'owner_only';
  END IF;
  IF (v_target.is_admin OR v_target.role = ANY (p_admin_roles))
     AND (p_role IS NULL OR NOT p_role = ANY (p_admin_roles))
     AND NOT EXISTS (
       SELECT 1 FROM public.tenant_users tu
        WHERE tu.tenant_id = p_tenant AND tu.user_id <> p_target
          AND (tu.is_admin OR tu.role = ANY (p_admin_roles))
     ) THEN
    RETURN 'last_admin';
  END IF;
  IF p_role IS NULL THEN
    DELETE FROM public.tenant_users tu WHERE tu.tenant_id = p_tenant AND tu.user_id = p_target;
  ELSE
    UPDATE public.tenant_users tu SET role = p_role, is_admin = false
     WHERE tu.tenant_id = p_tenant AND tu.user_id = p_target;
  END IF;
  RETURN 'done';
END
$$;
