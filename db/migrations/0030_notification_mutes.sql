-- Hand-written: a PL/pgSQL function, which drizzle cannot express.
--
-- Members mute a community's notifications, or some types of them, in
-- tenant_users.notification_preferences (PATCH /v1/me/communities/{tenant_id}):
--   {"muted": true}                      nothing from this community
--   {"muted_types": ["event_reminder"]}  nothing of these types from it
-- send_notifications writes no row for a recipient who muted the job's community or its type,
-- whoever sends it. It is judged at write time, so unmuting brings back nothing sent meanwhile,
-- as a phone's muted chat does not ring later. Both tests are containment (@>), which is false,
-- never an error, for preferences of any other shape.
--
-- So every recipient's membership row is now read, not only those of jobs naming others: that
-- one lookup by primary key per recipient gives both the outsider check (0017) and the mute.
-- The verdicts are unchanged (authz-agreement.test.ts). A job allowed but with every recipient
-- muted reports muted, so the consumer's batch line does not count it as a duplicate. Adding
-- that column changes the result type, which CREATE OR REPLACE cannot: the function is dropped
-- and made again, in this migration's transaction, so no caller sees it missing. Consumers of
-- the code before this select job_id, denial and written by name, and go on working.
DROP FUNCTION IF EXISTS private.send_notifications(
  uuid[], uuid[], uuid[], boolean[], text[], text[], text[], jsonb[], timestamptz[], uuid[], uuid[], text[]
);
CREATE FUNCTION private.send_notifications(
  p_job_ids uuid[], p_senders uuid[], p_tenant_ids uuid[], p_others boolean[], p_types text[],
  p_titles text[], p_messages text[], p_data jsonb[], p_created_ats timestamptz[],
  p_recipient_jobs uuid[], p_recipients uuid[], p_admin_roles text[]
) RETURNS TABLE (job_id uuid, denial text, written boolean, muted boolean) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH job AS (
    SELECT * FROM unnest(p_job_ids, p_senders, p_tenant_ids, p_others, p_types, p_titles, p_messages,
                         p_data, p_created_ats)
      AS j(job_id, sender, tenant_id, others, type, title, message, data, created_at)
  ), recipient AS (
    SELECT r.job_id, r.user_id, tu.user_id IS NOT NULL AS member,
           coalesce(tu.notification_preferences @> '{"muted": true}'
                    OR tu.notification_preferences @> jsonb_build_object('muted_types', jsonb_build_array(j.type)),
                    false) AS muted
      FROM unnest(p_recipient_jobs, p_recipients) AS r(job_id, user_id)
      JOIN job j ON j.job_id = r.job_id
      LEFT JOIN public.tenant_users tu ON tu.tenant_id = j.tenant_id AND tu.user_id = r.user_id
  ), outsider AS (
    -- A recipient's community is the sender's, whose membership (below) needs it active.
    SELECT DISTINCT r.job_id
      FROM recipient r JOIN job j ON j.job_id = r.job_id
     WHERE j.others AND r.user_id <> j.sender AND NOT r.member
  ), verdict AS (
    SELECT j.*,
           CASE WHEN s.member IS NOT TRUE THEN 'not_member'
                WHEN j.others AND NOT s.admin THEN 'not_admin'
                WHEN j.job_id IN (SELECT o.job_id FROM outsider o) THEN 'recipient_not_member'
           END AS denial
      FROM job j LEFT JOIN LATERAL private.membership(j.tenant_id, j.sender, p_admin_roles) s ON true
  ), written AS (
    INSERT INTO public.notifications (job_id, user_id, tenant_id, type, title, message, data, created_at)
    SELECT v.job_id, r.user_id, v.tenant_id, v.type, v.title, v.message, v.data, v.created_at
      FROM verdict v JOIN recipient r ON r.job_id = v.job_id
     WHERE v.denial IS NULL AND NOT r.muted
    ON CONFLICT (job_id, user_id) DO NOTHING
    RETURNING job_id
  )
  SELECT v.job_id, v.denial, v.job_id IN (SELECT w.job_id FROM written w),
         v.denial IS NULL AND NOT EXISTS (SELECT FROM recipient r WHERE r.job_id = v.job_id AND NOT r.muted)
    FROM verdict v;
END
$$;
