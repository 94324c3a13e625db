-- Hand-written: PL/pgSQL functions, which drizzle cannot express.
--
-- The feed functions of 0004 as they are now: their community selection in one SQL function
-- (feed_communities) instead of written out in each, and no sort_at column, which the API
-- stripped from every row. That change was first made by editing 0004 after it had landed; the
-- migrator never re-runs an applied migration, so a database migrated before the edit kept the
-- old functions and its feed answered with sort_at. This migration brings every database to the
-- same definitions, and 0004 is back to the text that first landed. The return type changes, so
-- the two feed functions are dropped and created, not replaced. How they work: see 0004.

-- The communities a user's feed reads, live from tenant_users (never the materialized view,
-- which may be minutes old): the requested ones the user belongs to; with none requested, the
-- saved preference; without one, every membership shown in the feed. Inactive tenants never
-- count. Plain SQL, so it is inlined into the statements that call it.
CREATE OR REPLACE FUNCTION private.feed_communities(p_user uuid, p_requested uuid[])
RETURNS TABLE (tenant_id uuid, name text) LANGUAGE sql STABLE AS $$
  SELECT tu.tenant_id, t.name
    FROM public.tenant_users tu
    JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
    LEFT JOIN public.user_view_preferences pref ON pref.user_id = tu.user_id
   WHERE tu.user_id = p_user
     AND CASE
           WHEN p_requested IS NOT NULL THEN tu.tenant_id = ANY(p_requested)
           WHEN cardinality(pref.selected_tenant_ids) > 0 THEN tu.tenant_id = ANY(pref.selected_tenant_ids)
           ELSE tu.display_in_feed
         END
$$;
--> statement-breakpoint
DROP FUNCTION IF EXISTS private.feed_posts(uuid, uuid[], timestamptz, uuid, integer);
--> statement-breakpoint
CREATE FUNCTION private.feed_posts(
  p_user uuid, p_requested uuid[], p_after_at timestamptz, p_after_id uuid, p_limit integer
) RETURNS TABLE (
  id uuid, tenant_id uuid, tenant_name text, user_id uuid, content text, created_at text,
  likes integer, comments integer
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
  SELECT array_agg(c.tenant_id), array_agg(c.name) INTO v_ids, v_names
    FROM private.feed_communities(p_user, p_requested) c;
  IF v_ids IS NULL THEN
    RETURN;
  END IF;
  IF cardinality(v_ids) < 30 THEN
    RETURN QUERY
    SELECT p.id, p.tenant_id, s.name, p.user_id, p.content, to_json(p.created_at) #>> '{}',
           p.total_likes, p.total_comments
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
           p.total_likes, p.total_comments
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
DROP FUNCTION IF EXISTS private.feed_events(uuid, uuid[], timestamptz, uuid, integer);
--> statement-breakpoint
-- Upcoming events: from the start of today (UTC), soonest first, keyset on (start_date, id).
CREATE FUNCTION private.feed_events(
  p_user uuid, p_requested uuid[], p_after_at timestamptz, p_after_id uuid, p_limit integer
) RETURNS TABLE (
  id uuid, tenant_id uuid, tenant_name text, title text, description text, start_date text,
  location_name text, image_url text
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
  SELECT array_agg(c.tenant_id), array_agg(c.name) INTO v_ids, v_names
    FROM private.feed_communities(p_user, p_requested) c;
  IF v_ids IS NULL THEN
    RETURN;
  END IF;
  IF cardinality(v_ids) < 30 THEN
    RETURN QUERY
    SELECT e.id, e.tenant_id, s.name, e.title, e.description, to_json(e.start_date) #>> '{}',
           e.location_name, e.image_url
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
           e.location_name, e.image_url
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
