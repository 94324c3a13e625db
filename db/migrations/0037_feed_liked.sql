-- Hand-written: PL/pgSQL and SQL functions, which drizzle cannot express.
--
-- The posts feed of 0024, each post with `liked`: whether the user whose feed it is likes it
-- (post_likes, 0036), as every other list of posts shows it, so a client draws the user's likes
-- without asking post by post. Read in the function's own statements, whose plans are cached,
-- rather than by the caller's statement around the function: there the planner took the
-- function's rows for a thousand and read the user's every like into a hash to match them (0.7
-- ms a page for a user who liked a thousand posts), and planned the wrapping on every call. A
-- scalar subquery, not EXISTS, so no plan makes it that hash: one probe of post_likes' key for
-- each row of the page (the planner puts it after the sort and limit).
--
-- A result with one more column is a new function, feed_posts_v2: CREATE OR REPLACE cannot change
-- a result, and 0024, run again over this one (migrations from 0019 on are), would fail to
-- replace a feed_posts that had one. feed_posts stays, for a worker deployed before this
-- migration, as a call of feed_posts_v2 without the column, so the walk has one definition.
CREATE OR REPLACE FUNCTION private.feed_posts_v2(
  p_user uuid, p_requested uuid[], p_after_at timestamptz, p_after_id uuid, p_limit integer,
  p_max_bytes bigint DEFAULT NULL
) RETURNS TABLE (
  id uuid, tenant_id uuid, tenant_name text, user_id uuid, content text, created_at text,
  likes integer, comments integer, liked boolean
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
           p.total_likes, p.total_comments,
           coalesce((SELECT true FROM public.post_likes l WHERE l.post_id = p.id AND l.user_id = p_user), false) AS liked
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
      liked := r.liked;
      RETURN NEXT;
      v_rows := v_rows + 1;
    END LOOP;
  ELSE
    -- Planned for these values: a cursor's plan would be generic, under the setting above, and
    -- a generic plan cannot know the list is long (0004 says what it picks).
    PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
    FOR r IN EXECUTE $q$
    SELECT p.id, p.tenant_id, s.name, p.user_id, p.content, to_json(p.created_at) #>> '{}' AS at,
           p.total_likes, p.total_comments,
           coalesce((SELECT true FROM public.post_likes l WHERE l.post_id = p.id AND l.user_id = $6), false) AS liked
      FROM public.posts p
      JOIN unnest($1, $2) AS s(tenant_id, name) ON s.tenant_id = p.tenant_id
     WHERE p.deleted_at IS NULL AND p.tenant_id = ANY($1)
       AND (p.created_at, p.id) < ($3, $4)
     ORDER BY p.created_at DESC, p.id DESC
     LIMIT $5
    $q$ USING v_ids, v_names, v_at, v_id, p_limit, p_user
    LOOP
      v_bytes := v_bytes + octet_length(r.content);
      IF v_rows > 0 AND v_bytes > p_max_bytes THEN
        v_cut := true;
        EXIT;
      END IF;
      id := r.id; tenant_id := r.tenant_id; tenant_name := r.name; user_id := r.user_id;
      content := r.content; created_at := r.at; likes := r.total_likes; comments := r.total_comments;
      liked := r.liked;
      RETURN NEXT;
      v_rows := v_rows + 1;
    END LOOP;
  END IF;
  IF v_cut THEN
    -- Cut short: one row of NULLs says so.
    id := NULL; tenant_id := NULL; tenant_name := NULL; user_id := NULL; content := NULL;
    created_at := NULL; likes := NULL; comments := NULL; liked := NULL;
    RETURN NEXT;
  END IF;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION private.feed_posts(
  p_user uuid, p_requested uuid[], p_after_at timestamptz, p_after_id uuid, p_limit integer,
  p_max_bytes bigint DEFAULT NULL
) RETURNS TABLE (
  id uuid, tenant_id uuid, tenant_name text, user_id uuid, content text, created_at text,
  likes integer, comments integer
) LANGUAGE sql STABLE AS $$
  SELECT f.id, f.tenant_id, f.tenant_name, f.user_id, f.content, f.created_at, f.likes, f.comments
    FROM private.feed_posts_v2(p_user, p_requested, p_after_at, p_after_id, p_limit, p_max_bytes) f
$$;
