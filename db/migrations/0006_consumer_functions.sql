-- Hand-written: PL/pgSQL functions, which drizzle cannot express.
--
-- The batch consumer's writes: one call per operation and batch judges every job by the rules
-- of workers/common/authz.ts and writes the allowed ones. They live in the database for the
-- feed's reason (0004): a statement sent as text is parsed, analysed and planned on every call,
-- and for these CTE statements that was ~1.5 ms of a ~6 ms batch (measured at the benchmark's
-- sizes); a function's generic plan is made once per backend, and Neon keeps the backends of
-- its SQL-over-HTTP endpoint. Every input is an array with one element per job (per recipient
-- for notifications); every function returns one verdict per job: the rule it broke (authz.ts's
-- Denial names) or whether its rows were written now. The TypeScript rules stay the enqueue
-- API's; workers/batch/test/authz-agreement.test.ts holds the two to the same verdicts.

-- Whether a user belongs to an active community, and administers it (authz.ts isTenantAdmin;
-- p_admin_roles is its ADMIN_ROLES). No row: not a member. Plain SQL, inlined where used.
CREATE FUNCTION private.membership(p_tenant uuid, p_user uuid, p_admin_roles text[])
RETURNS TABLE (member boolean, admin boolean) LANGUAGE sql STABLE AS $$
  SELECT true, tu.is_admin OR tu.role = ANY(p_admin_roles)
    FROM public.tenant_users tu JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
   WHERE tu.tenant_id = p_tenant AND tu.user_id = p_user
$$;
--> statement-breakpoint
-- Analytics: the sender must be a member. created_at is the job's enqueue time, so a
-- redelivered job lands in the same partition and (job_id, created_at) catches it.
CREATE FUNCTION private.record_analytics(
  p_job_ids uuid[], p_event_types text[], p_user_ids uuid[], p_tenant_ids uuid[],
  p_properties jsonb[], p_created_ats timestamptz[], p_admin_roles text[]
) RETURNS TABLE (job_id uuid, denial text, written boolean) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH job AS (
    SELECT * FROM unnest(p_job_ids, p_event_types, p_user_ids, p_tenant_ids, p_properties, p_created_ats)
      AS j(job_id, event_type, user_id, tenant_id, properties, created_at)
  ), judged AS (
    SELECT j.*, m.member IS TRUE AS member
      FROM job j LEFT JOIN LATERAL private.membership(j.tenant_id, j.user_id, p_admin_roles) m ON true
  ), written AS (
    INSERT INTO public.analytics_events (job_id, event_type, user_id, tenant_id, properties, created_at)
    SELECT j.job_id, j.event_type, j.user_id, j.tenant_id, j.properties, j.created_at FROM judged j WHERE j.member
    ON CONFLICT (job_id, created_at) DO NOTHING
    RETURNING job_id
  )
  SELECT j.job_id, CASE WHEN NOT j.member THEN 'not_member' END,
         j.job_id IN (SELECT w.job_id FROM written w)
    FROM judged j;
END
$$;
--> statement-breakpoint
-- Notifications: the sender must be a member; notifying anyone else needs an admin, and every
-- other recipient must be a member. One row per recipient; (job_id, user_id) makes redelivery
-- a no-op. p_others says which jobs name anyone but the sender (only those look recipients up).
CREATE FUNCTION private.send_notifications(
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
  ), verdict AS (
    SELECT j.*,
           CASE WHEN s.member IS NOT TRUE THEN 'not_member'
                WHEN j.others AND NOT s.admin THEN 'not_admin'
                WHEN j.others AND EXISTS (
                  SELECT 1 FROM recipient r
                   WHERE r.job_id = j.job_id AND r.user_id <> j.sender
                     AND NOT EXISTS (SELECT FROM private.membership(j.tenant_id, r.user_id, p_admin_roles))
                ) THEN 'recipient_not_member'
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
--> statement-breakpoint
-- Content edits (posts and events in one call): the editor must be a member, the item live and
-- this community's, and the editor its author (created_by for events) or an admin. Judged
-- first, then the newest allowed job per item is kept (an unauthorised newer edit must not hide
-- an authorised older one), and applied only if newer than the row (updated_at takes the job's
-- time), so a redelivered older edit never wins. A post's edit is its content; an event's
-- fields each come with a "set" flag, so an absent field keeps its value and an explicit null
-- clears it. latest: the job survived coalescing; updated: its item changed now (else stale).
CREATE FUNCTION private.update_content(
  p_job_ids uuid[], p_tenant_ids uuid[], p_actors uuid[], p_created_ats timestamptz[],
  p_content_types text[], p_content_ids uuid[], p_admin_roles text[], p_content text[],
  p_set_title boolean[], p_title text[], p_set_description boolean[], p_description text[],
  p_set_start_date boolean[], p_start_date timestamptz[], p_set_end_date boolean[], p_end_date timestamptz[],
  p_set_location_name boolean[], p_location_name text[], p_set_image_url boolean[], p_image_url text[]
) RETURNS TABLE (job_id uuid, denial text, latest boolean, updated boolean) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH job AS (
    SELECT * FROM unnest(p_job_ids, p_tenant_ids, p_actors, p_created_ats, p_content_types,
                         p_content_ids, p_content, p_set_title, p_title, p_set_description,
                         p_description, p_set_start_date, p_start_date, p_set_end_date, p_end_date,
                         p_set_location_name, p_location_name, p_set_image_url, p_image_url)
      AS j(job_id, tenant_id, actor, created_at, content_type, content_id, content, set_title,
           title, set_description, description, set_start_date, start_date, set_end_date,
           end_date, set_location_name, location_name, set_image_url, image_url)
  ), judged AS (
    SELECT j.*,
           CASE WHEN m.member IS NOT TRUE THEN 'not_member'
                WHEN c.tenant_id IS DISTINCT FROM j.tenant_id THEN 'no_such_content'
                WHEN c.author IS DISTINCT FROM j.actor AND NOT m.admin THEN 'not_author'
           END AS denial
      FROM job j
      LEFT JOIN LATERAL private.membership(j.tenant_id, j.actor, p_admin_roles) m ON true
      LEFT JOIN LATERAL (
        SELECT p.tenant_id, p.user_id AS author FROM public.posts p
         WHERE j.content_type = 'posts' AND p.id = j.content_id AND p.deleted_at IS NULL
        UNION ALL
        SELECT e.tenant_id, e.created_by FROM public.events e
         WHERE j.content_type = 'events' AND e.id = j.content_id AND e.deleted_at IS NULL
      ) c ON true
  ), latest AS (
    SELECT DISTINCT ON (j.content_type, j.content_id) j.* FROM judged j WHERE j.denial IS NULL
     ORDER BY j.content_type, j.content_id, j.created_at DESC, j.job_id DESC
  ), updated_posts AS (
    UPDATE public.posts p SET content = l.content, updated_at = l.created_at
      FROM latest l
     WHERE l.content_type = 'posts' AND p.id = l.content_id AND p.tenant_id = l.tenant_id
       AND p.deleted_at IS NULL AND p.updated_at < l.created_at
    RETURNING p.id
  ), updated_events AS (
    UPDATE public.events e
       SET title = CASE WHEN l.set_title THEN l.title ELSE e.title END,
           description = CASE WHEN l.set_description THEN l.description ELSE e.description END,
           start_date = CASE WHEN l.set_start_date THEN l.start_date ELSE e.start_date END,
           end_date = CASE WHEN l.set_end_date THEN l.end_date ELSE e.end_date END,
           location_name = CASE WHEN l.set_location_name THEN l.location_name ELSE e.location_name END,
           image_url = CASE WHEN l.set_image_url THEN l.image_url ELSE e.image_url END,
           updated_at = l.created_at
      FROM latest l
     WHERE l.content_type = 'events' AND e.id = l.content_id AND e.tenant_id = l.tenant_id
       AND e.deleted_at IS NULL AND e.updated_at < l.created_at
    RETURNING e.id
  )
  SELECT j.job_id, j.denial,
         j.job_id IN (SELECT l.job_id FROM latest l),
         CASE j.content_type
           WHEN 'posts' THEN j.content_id IN (SELECT u.id FROM updated_posts u)
           ELSE j.content_id IN (SELECT u.id FROM updated_events u)
         END
    FROM judged j;
END
$$;
