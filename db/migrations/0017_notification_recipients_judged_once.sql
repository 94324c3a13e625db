-- Hand-written: a PL/pgSQL function, which drizzle cannot express.
--
-- send_notifications (0006) judged "every other recipient must be a member" with a correlated
-- subquery per job over the batch's whole recipient list: each job scanned every recipient of
-- every job, so a batch cost jobs x recipients row visits before any membership lookup. At 100
-- jobs notifying 500 members each (an admin's announcement, fanned out), that was 5 million
-- visits, ~0.45 s of a ~1.5 s batch whose plain INSERT of the same 50,000 rows takes ~1.0 s.
-- Each recipient is now looked at once: the jobs naming an outsider are found by joining the
-- recipients to their jobs. The verdicts are the same (authz-agreement.test.ts holds them to
-- authz.ts); only jobs that name others have their recipients looked up, as before, and the
-- CASE still gives the first rule a job breaks.
CREATE OR REPLACE FUNCTION private.send_notifications(
  p_job_ids uuid[], p_senders uuid[], p_tenant_ids uuid[], p_others boolean[], p_types text[],
  p_titles text[], p_messages text[], p_data jsonb[], p_created_ats timestamptz[],
  p_recipient_jobs uuid[], p_recipients uuid[], p_admin_roles text[]
) RETURNS TABLE (job_id uuid, denial text, written boolean) LANGUAGE plpgsql
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
    SELECT * FROM unnest(p_recipient_jobs, p_recipients) AS r(job_id, user_id)
  ), outsider AS (
    SELECT DISTINCT r.job_id
      FROM recipient r JOIN job j ON j.job_id = r.job_id
     WHERE j.others AND r.user_id <> j.sender
       AND NOT EXISTS (SELECT FROM private.membership(j.tenant_id, r.user_id, p_admin_roles))
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
     WHERE v.denial IS NULL
    ON CONFLICT (job_id, user_id) DO NOTHING
    RETURNING job_id
  )
  SELECT v.job_id, v.denial, v.job_id IN (SELECT w.job_id FROM written w) FROM verdict v;
END
$$;
