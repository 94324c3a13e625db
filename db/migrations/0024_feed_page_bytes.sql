-- Hand-written: PL/pgSQL functions, which drizzle cannot express.
--
-- The feed functions of 0007, with a bound on a page's size as well as its rows. A post's
-- content and an event's description have no bound in the schema (the product writes them), so
-- a page of 100 long ones was one answer of any size: past the 10 MiB Neon's SQL-over-HTTP
-- answers, the feed answered 503 at that page for good, and below it the worker held the page
-- twice. Given p_max_bytes, a function stops before the row that would take the page's text
-- (a post's content, an event's text columns) past it, the first row always coming whole, and
-- then returns one row of NULLs: the page was cut short; the next starts after its last row.
-- The rows are counted in a loop here rather than by a window over the function's rows in the
-- caller's statement, which cost ~0.14 ms a page (a third of the feed's time) against ~0.03.
--
-- p_max_bytes defaults to none: a worker deployed before this migration calls with five
-- arguments and is answered as before. The argument list changes, so the five-argument
-- functions are dropped (beside them, those calls would be ambiguous) and six-argument ones
-- created; OR REPLACE lets the migration run again over itself. How the walks work: see 0004.
DROP FUNCTION IF EXISTS private.feed_posts(uuid, uuid[], timestamptz, uuid, integer);
--> statement-breakpoint
CREATE OR REPLACE FUNCTION private.feed_posts(
  p_user uuid, p_requested uuid[], p_after_at timestamptz, p_after_id uuid, p_limit integer,
  p_max_bytes bigint DEFAULT NULL
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
  v_bytes bigint := 0;
  v_rows integer := 0;
  v_cut boolean := false;
  r record;
BEGIN
  SELECT array_agg(c.tenant_id), array_agg(c.name) INTO v_ids, v_names
    FROM private.feed_communities(p_user, p_requested) c;
  IF v_ids IS NULL THEN
    RETURN;
  END IF;
  IF cardinality(v_ids) < 30 THEN
    FOR r IN
    SELECT p.id, p.tenant_id, s.name, p.user_id, p.content, to_json(p.created_at) #>> '{}' AS at,
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
     LIMIT p_limit
    LOOP
      v_bytes := v_bytes + octet_length(r.content);
      IF v_rows > 0 AND v_bytes > p_max_bytes THEN
        v_cut := true;
        EXIT;
      END IF;
      id := r.id; tenant_id := r.tenant_id; tenant_name := r.name; user_id := r.user_id;
      content := r.content; created_at := r.at; likes := r.total_likes; comments := r.total_comments;
      RETURN NEXT;
      v_rows := v_rows + 1;
    END LOOP;
  ELSE
    -- Planned for these values: a cursor's plan would be generic, under the setting above, and
    -- a generic plan cannot know the list is long (0004 says what it picks).
    PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
    FOR r IN EXECUTE $q$
    SELECT p.id, p.tenant_id, s.name, p.user_id, p.content, to_json(p.created_at) #>> '{}' AS at,
           p.total_likes, p.total_comments
      FROM public.posts p
      JOIN unnest($1, $2) AS s(tenant_id, name) ON s.tenant_id = p.tenant_id
     WHERE p.deleted_at IS NULL AND p.tenant_id = ANY($1)
       AND (p.created_at, p.id) < ($3, $4)
     ORDER BY p.created_at DESC, p.id DESC
     LIMIT $5
    $q$ USING v_ids, v_names, v_at, v_id, p_limit
    LOOP
      v_bytes := v_bytes + octet_length(r.content);
      IF v_rows > 0 AND v_bytes > p_max_bytes THEN
        v_cut := true;
        EXIT;
      END IF;
      id := r.id; tenant_id := r.tenant_id; tenant_name := r.name; user_id := r.user_id;
      content := r.content; created_at := r.at; likes := r.total_likes; comments := r.total_comments;
      RETURN NEXT;
      v_rows := v_rows + 1;
    END LOOP;
  END IF;
  IF v_cut THEN
    -- Cut short: one row of NULLs says so.
    id := NULL; tenant_id := NULL; tenant_name := NULL; user_id := NULL; content := NULL;
    created_at := NULL; likes := NULL; comments := NULL;
    RETURN NEXT;
  END IF;
END
$$;
--> statement-breakpoint
DROP FUNCTION IF EXISTS private.feed_events(uuid, uuid[], timestamptz, uuid, integer);
--> statement-breakpoint
-- Upcoming events: from the start of today (UTC), soonest first, keyset on (start_date, id).
CREATE OR REPLACE FUNCTION private.feed_events(
  p_user uuid, p_requested uuid[], p_after_at timestamptz, p_after_id uuid, p_limit integer,
  p_max_bytes bigint DEFAULT NULL
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
  v_bytes bigint := 0;
  v_rows integer := 0;
  v_cut boolean := false;
  r record;
BEGIN
  SELECT array_agg(c.tenant_id), array_agg(c.name) INTO v_ids, v_names
    FROM private.feed_communities(p_user, p_requested) c;
  IF v_ids IS NULL THEN
    RETURN;
  END IF;
  IF cardinality(v_ids) < 30 THEN
    FOR r IN
    SELECT e.id, e.tenant_id, s.name, e.title, e.description, to_json(e.start_date) #>> '{}' AS at,
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
     LIMIT p_limit
    LOOP
      v_bytes := v_bytes + octet_length(r.title) + coalesce(octet_length(r.description), 0)
                 + coalesce(octet_length(r.location_name), 0) + coalesce(octet_length(r.image_url), 0);
      IF v_rows > 0 AND v_bytes > p_max_bytes THEN
        v_cut := true;
        EXIT;
      END IF;
      id := r.id; tenant_id := r.tenant_id; tenant_name := r.name; title := r.title;
      description := r.description; start_date := r.at; location_name := r.location_name;
      image_url := r.image_url;
      RETURN NEXT;
      v_rows := v_rows + 1;
    END LOOP;
  ELSE
    -- Planned for these values: a cursor's plan would be generic, under the setting above, and
    -- a generic plan cannot know the list is long (0004 says what it picks).
    PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
    FOR r IN EXECUTE $q$
    SELECT e.id, e.tenant_id, s.name, e.title, e.description, to_json(e.start_date) #>> '{}' AS at,
           e.location_name, e.image_url
      FROM public.events e
      JOIN unnest($1, $2) AS s(tenant_id, name) ON s.tenant_id = e.tenant_id
     WHERE e.deleted_at IS NULL AND e.tenant_id = ANY($1) AND e.start_date >= $6
       AND (e.start_date, e.id) > ($3, $4)
     ORDER BY e.start_date, e.id
     LIMIT $5
    $q$ USING v_ids, v_names, v_at, v_id, p_limit, v_from
    LOOP
      v_bytes := v_bytes + octet_length(r.title) + coalesce(octet_length(r.description), 0)
                 + coalesce(octet_length(r.location_name), 0) + coalesce(octet_length(r.image_url), 0);
      IF v_rows > 0 AND v_bytes > p_max_bytes THEN
        v_cut := true;
        EXIT;
      END IF;
      id := r.id; tenant_id := r.tenant_id; tenant_name := r.name; title := r.title;
      description := r.description; start_date := r.at; location_name := r.location_name;
      image_url := r.image_url;
      RETURN NEXT;
      v_rows := v_rows + 1;
    END LOOP;
  END IF;
  IF v_cut THEN
    -- Cut short: one row of NULLs says so.
    id := NULL; tenant_id := NULL; tenant_name := NULL; title := NULL; description := NULL;
    start_date := NULL; location_name := NULL; image_url := NULL;
    RETURN NEXT;
  END IF;
END
$$;
