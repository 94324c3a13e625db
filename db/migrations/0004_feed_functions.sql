-- Hand-written: PL/pgSQL functions, which drizzle cannot express.
--
-- The feed (one keyset page of posts or upcoming events across a user's communities) lives in
-- the database so that its plans are cached per backend session: a Worker's statement is
-- otherwise planned on every request, and planning cost more than running it for a user in a
-- few communities (~0.36 ms of ~0.64 ms server time at the benchmark's sizes). Neon's
-- SQL-over-HTTP endpoint and its pooler keep backends, so the cache outlives a request.
--
-- Each function first reads which communities the user reads, live from tenant_users (never
-- the materialized view, which may be minutes old): the requested ones the user belongs to;
-- with none requested, the saved preference; without one, every membership shown in the feed.
-- Inactive tenants never count. Then one of two plans, chosen by the number of communities:
--   * fewer than 30: a walk down each community's own (tenant_id, time, id) index, merged.
--     Its plan is the same for every user, so it is cached generic (no planning at all).
--   * 30 or more: one walk down the global (time, id) index, filtered by community. A
--     generic plan cannot know the community list is long and picks a bitmap scan and a sort
--     of every matching row (100+ ms measured), so this statement is planned per call
--     (EXECUTE) with the real list; it is cheap next to its run.
-- The keyset position is compared as a row, with +/- infinity on the first page, so the
-- cached plan always has a real index bound (an "IS NULL OR" would turn it into a filter).
-- Timestamps leave as JSON text (microseconds and offset): a JavaScript Date would cut them to
-- milliseconds and a cursor built from one would skip rows.

CREATE FUNCTION private.feed_posts(
  p_user uuid, p_requested uuid[], p_after_at timestamptz, p_after_id uuid, p_limit integer
) RETURNS TABLE (
  id uuid, tenant_id uuid, tenant_name text, user_id uuid, content text, created_at text,
  likes integer, comments integer, sort_at timestamptz
) LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
  v_ids uuid[];
  v_names text[];
  v_at timestamptz := coalesce(p_after_at, 'infinity');
  v_id uuid := coalesce(p_after_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
BEGIN
  SELECT array_agg(tu.tenant_id), array_agg(t.name) INTO v_ids, v_names
    FROM public.tenant_users tu
    JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
    LEFT JOIN public.user_view_preferences pref ON pref.user_id = tu.user_id
   WHERE tu.user_id = p_user
     AND CASE
           WHEN p_requested IS NOT NULL THEN tu.tenant_id = ANY(p_requested)
           WHEN cardinality(pref.selected_tenant_ids) > 0 THEN tu.tenant_id = ANY(pref.selected_tenant_ids)
           ELSE tu.display_in_feed
         END;
  IF v_ids IS NULL THEN
    RETURN;
  END IF;
  IF cardinality(v_ids) < 30 THEN
    RETURN QUERY
    SELECT p.id, p.tenant_id, s.name, p.user_id, p.content, to_json(p.created_at) #>> '{}',
           p.total_likes, p.total_comments, p.created_at
      FROM unnest(v_ids, v_names) AS s(tenant_id, name)
      CROSS JOIN LATERAL (
        SELECT * FROM public.posts p
         WHERE p.tenant_id = s.tenant_id AND p.deleted_at IS NULL
           AND (p.created_at, p.id) < (v_at, v_id)
         ORDER BY p.created_at DESC, p.id DESC
         LIMIT p_limit
      ) p
     ORDER BY p.created_at DESC, p.id DESC
     LIMIT p_limit;
  ELSE
    RETURN QUERY EXECUTE $q$
    SELECT p.id, p.tenant_id, s.name, p.user_id, p.content, to_json(p.created_at) #>> '{}',
           p.total_likes, p.total_comments, p.created_at
      FROM public.posts p
      JOIN unnest($1, $2) AS s(tenant_id, name) ON s.tenant_id = p.tenant_id
     WHERE p.deleted_at IS NULL AND p.tenant_id = ANY($1)
       AND (p.created_at, p.id) < ($3, $4)
     ORDER BY p.created_at DESC, p.id DESC
     LIMIT $5
    $q$ USING v_ids, v_names, v_at, v_id, p_limit;
  END IF;
END
$$;
--> statement-breakpoint
-- Upcoming events: from the start of today (UTC), soonest first, keyset on (start_date, id).
CREATE FUNCTION private.feed_events(
  p_user uuid, p_requested uuid[], p_after_at timestamptz, p_after_id uuid, p_limit integer
) RETURNS TABLE (
  id uuid, tenant_id uuid, tenant_name text, title text, description text, start_date text,
  location_name text, image_url text, sort_at timestamptz
) LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
  v_ids uuid[];
  v_names text[];
  v_from timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  v_at timestamptz := coalesce(p_after_at, '-infinity');
  v_id uuid := coalesce(p_after_id, '00000000-0000-0000-0000-000000000000');
BEGIN
  SELECT array_agg(tu.tenant_id), array_agg(t.name) INTO v_ids, v_names
    FROM public.tenant_users tu
    JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
    LEFT JOIN public.user_view_preferences pref ON pref.user_id = tu.user_id
   WHERE tu.user_id = p_user
     AND CASE
           WHEN p_requested IS NOT NULL THEN tu.tenant_id = ANY(p_requested)
           WHEN cardinality(pref.selected_tenant_ids) > 0 THEN tu.tenant_id = ANY(pref.selected_tenant_ids)
           ELSE tu.display_in_feed
         END;
  IF v_ids IS NULL THEN
    RETURN;
  END IF;
  IF cardinality(v_ids) < 30 THEN
    RETURN QUERY
    SELECT e.id, e.tenant_id, s.name, e.title, e.description, to_json(e.start_date) #>> '{}',
           e.location_name, e.image_url, e.start_date
      FROM unnest(v_ids, v_names) AS s(tenant_id, name)
      CROSS JOIN LATERAL (
        SELECT * FROM public.events e
         WHERE e.tenant_id = s.tenant_id AND e.deleted_at IS NULL AND e.start_date >= v_from
           AND (e.start_date, e.id) > (v_at, v_id)
         ORDER BY e.start_date, e.id
         LIMIT p_limit
      ) e
     ORDER BY e.start_date, e.id
     LIMIT p_limit;
  ELSE
    RETURN QUERY EXECUTE $q$
    SELECT e.id, e.tenant_id, s.name, e.title, e.description, to_json(e.start_date) #>> '{}',
           e.location_name, e.image_url, e.start_date
      FROM public.events e
      JOIN unnest($1, $2) AS s(tenant_id, name) ON s.tenant_id = e.tenant_id
     WHERE e.deleted_at IS NULL AND e.tenant_id = ANY($1) AND e.start_date >= $6
       AND (e.start_date, e.id) > ($3, $4)
     ORDER BY e.start_date, e.id
     LIMIT $5
    $q$ USING v_ids, v_names, v_at, v_id, p_limit, v_from;
  END IF;
END
$$;
