-- Hand-written: a PL/pgSQL function, which drizzle cannot express.
--
-- private.refresh_user_communities as 0005 left it, with the swap's wait for its lock bounded.
-- The swap (CREATE OR REPLACE VIEW) takes the view's ACCESS EXCLUSIVE lock, so it waits for
-- every query then reading the view; and from the moment it waits, every new reader of the
-- view queues behind it. Our own reads are short, but a long one from elsewhere (a report, a
-- pg_dump, which holds its locks for the whole dump) kept the swap waiting up to the cron's
-- statement_timeout of 10 minutes, and "my communities" waited with it. Now the swap gives up
-- after 5 s, the refresh fails whole (the idle copy's refresh is rolled back with it, and
-- readers never saw it), the cron logs it, and the next run, 5 minutes later, tries again; the
-- counts are that much older meanwhile. The refresh of the idle copy itself stays unbounded: no
-- reader waits on it.
CREATE OR REPLACE FUNCTION private.refresh_user_communities()
RETURNS boolean
LANGUAGE plpgsql
SET work_mem = '64MB'
AS $$
DECLARE
  started timestamptz := clock_timestamp();
  live text;
  next_copy text;
BEGIN
  -- A second caller returns false at once instead of queueing behind the first refresh.
  IF NOT pg_try_advisory_xact_lock(hashtext('private.mv_user_communities')) THEN
    RETURN false;
  END IF;
  SELECT live_copy INTO live FROM private.view_refreshes
   WHERE view_name = 'private.mv_user_communities';
  next_copy := CASE WHEN live = 'a' THEN 'b' ELSE 'a' END;
  EXECUTE format('REFRESH MATERIALIZED VIEW private.%I', 'mv_user_communities_' || next_copy);
  -- The swap waits for the view's readers, and every reader that comes after queues behind it:
  -- past 5 s it gives up (see the head of this file). Until the transaction ends.
  PERFORM set_config('lock_timeout', '5s', true);
  EXECUTE format(
    'CREATE OR REPLACE VIEW private.mv_user_communities AS SELECT * FROM private.%I',
    'mv_user_communities_' || next_copy
  );
  INSERT INTO private.view_refreshes (view_name, refreshed_at, duration_ms, live_copy)
  VALUES ('private.mv_user_communities', started,
          extract(epoch FROM clock_timestamp() - started) * 1000, next_copy)
  ON CONFLICT (view_name) DO UPDATE
    SET refreshed_at = excluded.refreshed_at, duration_ms = excluded.duration_ms,
        live_copy = excluded.live_copy;
  RETURN true;
END
$$;
