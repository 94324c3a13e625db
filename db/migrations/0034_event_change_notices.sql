-- Hand-written: SQL and PL/pgSQL functions, which drizzle cannot express.
--
-- Members who answered an event (event_attendees, 0032) are told when it changes time or place,
-- as a calendar tells its invitees: update_content writes an `event_changed` notification for
-- each of them with the edit that moved it, in the statement that applies the edit. The edit's
-- job id is the notifications' job_id, and an edit is applied once (only when newer than the
-- row), so a redelivered job tells no one twice, on either count. Not told: the editor, members
-- who left (their answers stay, as their posts do, but they hear no more of the community), an
-- event already over once edited, and anyone who muted the community or `event_changed`. A new
-- title, description or image tells no one: the answer was to a time and a place. The tenant
-- worker's deletion of an event tells them `event_cancelled` the same way (content/queries.ts).
--
-- Whether a member muted a notification is now one function, private.notification_muted, read
-- by send_notifications (0030's rule, unchanged), by update_content and by the deletion. It is
-- one SELECT of an expression, so the planner puts the expression in its place, as it was
-- written before: but only when declared STABLE, as jsonb_build_object is. Declared IMMUTABLE,
-- it was called as a function once a row (EXPLAIN VERBOSE showed the call, not the expression).
-- Both functions keep their signature and result, so are replaced in place; update_content is
-- 0019's but for judged's three was_ columns (the event as the edit found it) and the two CTEs
-- after updated_events, whose RETURNING gives them the event as the edit left it.
CREATE OR REPLACE FUNCTION private.notification_muted(p_preferences jsonb, p_type text)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(p_preferences @> '{"muted": true}'
                  OR p_preferences @> jsonb_build_object('muted_types', jsonb_build_array(p_type)), false)
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION private.send_notifications(
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
           private.notification_muted(tu.notification_preferences, j.type) AS muted
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
--> statement-breakpoint
CREATE OR REPLACE FUNCTION private.update_content(
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
                WHEN j.content_type = 'events'
                 AND (CASE WHEN j.set_end_date THEN j.end_date ELSE c.end_date END)
                   < (CASE WHEN j.set_start_date THEN j.start_date ELSE c.start_date END)
                THEN 'end_before_start'
           END AS denial,
           c.start_date AS was_start, c.end_date AS was_end, c.location_name AS was_location
      FROM job j
      LEFT JOIN LATERAL private.membership(j.tenant_id, j.actor, p_admin_roles) m ON true
      LEFT JOIN LATERAL (
        SELECT p.tenant_id, p.user_id AS author, NULL::timestamptz AS start_date,
               NULL::timestamptz AS end_date, NULL::text AS location_name
          FROM public.posts p
         WHERE j.content_type = 'posts' AND p.id = j.content_id AND p.deleted_at IS NULL
        UNION ALL
        SELECT e.tenant_id, e.created_by, e.start_date, e.end_date, e.location_name FROM public.events e
         WHERE j.content_type = 'events' AND e.id = j.content_id AND e.deleted_at IS NULL
      ) c ON true
  ), latest AS (
    SELECT DISTINCT ON (j.content_type, j.content_id) j.* FROM judged j WHERE j.denial IS NULL
     ORDER BY j.content_type, j.content_id, j.created_at DESC, j.job_id DESC
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
    RETURNING e.id, e.tenant_id, e.title, e.start_date, e.end_date, e.location_name
  ), moved AS (
    SELECT u.*, l.job_id, l.actor, l.created_at,
           u.start_date IS DISTINCT FROM l.was_start OR u.end_date IS DISTINCT FROM l.was_end AS new_time,
           u.location_name IS DISTINCT FROM l.was_location AS new_place
      FROM updated_events u JOIN latest l ON l.content_type = 'events' AND l.content_id = u.id
  ), told AS (
    INSERT INTO public.notifications (job_id, user_id, tenant_id, type, title, message, data, created_at)
    SELECT m.job_id, a.user_id, m.tenant_id, 'event_changed', m.title,
           'The event you answered has a new '
             || CASE WHEN m.new_time AND m.new_place THEN 'time and place' WHEN m.new_time THEN 'time' ELSE 'place' END,
           jsonb_build_object('event_id', m.id, 'start_date', m.start_date, 'end_date', m.end_date,
                              'location_name', m.location_name),
           m.created_at
      FROM moved m
      JOIN public.event_attendees a ON a.event_id = m.id
      JOIN public.tenant_users tu ON tu.tenant_id = m.tenant_id AND tu.user_id = a.user_id
     WHERE (m.new_time OR m.new_place) AND a.user_id <> m.actor
       AND coalesce(m.end_date, m.start_date) >= now()
       AND NOT private.notification_muted(tu.notification_preferences, 'event_changed')
    ON CONFLICT (job_id, user_id) DO NOTHING
  ), updated_posts AS (
    UPDATE public.posts p SET content = l.content, updated_at = l.created_at
      FROM latest l
     WHERE l.content_type = 'posts' AND p.id = l.content_id AND p.tenant_id = l.tenant_id
       AND p.deleted_at IS NULL AND p.updated_at < l.created_at
       -- Events first, always (see the head of this file): a one-time filter, run to its end
       -- before the first post row is read.
       AND (SELECT count(*) FROM updated_events) >= 0
    RETURNING p.id
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
