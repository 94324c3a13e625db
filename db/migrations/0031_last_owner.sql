-- Hand-written: a PL/pgSQL function, which drizzle cannot express.
--
-- manage_member (0028) with one rule more, before last_admin:
--   last_owner  the change would take the community's last owner away (stepping down, or
--               leaving; only owners get this far for an owner): only an owner makes an owner,
--               so nobody but the operators could ever make one again.
-- A community with no owner at all (an operator made it so) is not affected: the rule keeps an
-- owner who is there. The lock and everything else are 0028's. Workers deployed before this take
-- last_owner for a refusal they do not name: the leave route answers it 404, the members routes
-- 500, until they are deployed (migrations run first, so for the deploy's minute at most).
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
  IF v_target.role = 'owner' AND p_role IS DISTINCT FROM 'owner'
     AND NOT EXISTS (
       SELECT 1 FROM public.tenant_users tu
        WHERE tu.tenant_id = p_tenant AND tu.user_id <> p_target AND tu.role = 'owner'
     ) THEN
    RETURN 'last_owner';
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
