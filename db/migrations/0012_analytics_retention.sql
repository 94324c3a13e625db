-- Hand-written: a PL/pgSQL function, which drizzle cannot express.
--
-- Retention for a monthly-partitioned table: drops the partitions whose whole range ends on or
-- before the first day of the month `keep_months` months before the current one (UTC), so the
-- current month and at least `keep_months` full months before it stay. Dropping a month is why
-- analytics_events is partitioned by month: a DELETE of that many rows would bloat the table and
-- the WAL and leave the space to vacuum. The DEFAULT partition and unbounded ranges are never
-- dropped. Dropping a partition locks its parent for a moment: lock_timeout makes the call fail
-- (and the daily cron try again the next day) instead of queueing every insert behind a long
-- query. Returns the dropped partitions' names.
CREATE FUNCTION private.drop_monthly_partitions_before(parent regclass, keep_months int)
RETURNS SETOF text
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $$
DECLARE
  cutoff timestamptz;
  part record;
BEGIN
  IF keep_months IS NULL OR keep_months < 1 THEN
    RAISE EXCEPTION 'keep_months must be at least 1, not %', keep_months;
  END IF;
  cutoff := (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => keep_months)) AT TIME ZONE 'UTC';
  FOR part IN
    SELECT c.oid::regclass AS rel, c.relname::text AS name,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM $re$TO \('([^']+)'\)$re$)::timestamptz AS upper_bound
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
     ORDER BY 3
  LOOP
    CONTINUE WHEN part.upper_bound IS NULL OR part.upper_bound > cutoff;
    EXECUTE format('DROP TABLE %s', part.rel);
    RETURN NEXT part.name;
  END LOOP;
END
$$;
