-- Hand-written: a PL/pgSQL function, which drizzle cannot express.
--
-- private.erase_user as 0026 left it, but for the rows it locks and their order. A user's likes
-- (post_likes, 0036) tie their erasure to other users' posts: deleting the likes updates the
-- count of each post they liked (its trigger), after the foreign keys' cascades have taken the
-- user's own events and posts. So:
-- - Two users who liked each other's posts, erased at once, each held their own posts and waited
--   for the other's. Measured: 64 deadlocks in 100 such pairs; the erasure Postgres failed
--   answered 503, and the Supabase hook is not called again. Erasures now run one at a time (a
--   transaction-scoped advisory lock, taken first): they are rare and take milliseconds, and
--   the spam accounts an operator erases by the hundred are the ones that like each other's.
-- - A content-update batch locks its events, then its posts, each in id order (0019); an erasure
--   took the user's own posts, then the posts they liked, which a batch editing one of each
--   could hold the other way round. The erasure now takes them first, in the batch's order: the
--   user's events, then their posts and the posts they liked together, by id.
-- Same signature and result, so replaced in place.
CREATE OR REPLACE FUNCTION private.erase_user(p_id uuid)
RETURNS TABLE (tenant_ids uuid[], dead_jobs integer) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('private.erase_user'));
  INSERT INTO public.provider_users AS p (id, erased_at) VALUES (p_id, now())
  ON CONFLICT (id) DO UPDATE SET erased_at = coalesce(p.erased_at, excluded.erased_at);
  PERFORM 1 FROM public.events e WHERE e.created_by = p_id ORDER BY e.id FOR NO KEY UPDATE;
  PERFORM 1 FROM public.posts x
    WHERE x.user_id = p_id OR x.id IN (SELECT l.post_id FROM public.post_likes l WHERE l.user_id = p_id)
    ORDER BY x.id FOR UPDATE;
  RETURN QUERY
  WITH gone AS (DELETE FROM public.users u WHERE u.id = p_id RETURNING u.id)
  SELECT array(SELECT tu.tenant_id FROM public.tenant_users tu WHERE tu.user_id = gone.id),
         (SELECT count(*) FROM public.dead_jobs dj WHERE dj.user_id = gone.id)::int
  FROM gone;
END $$;
