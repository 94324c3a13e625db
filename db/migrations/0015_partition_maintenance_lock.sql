-- Hand-written: functions and renames, which drizzle cannot express.
--
-- Partition maintenance run twice at once on one table (the daily cron fired by hand while its
-- schedule fires) deadlocked: each run creates the missing months in a loop, locking the parent
-- and its DEFAULT partition once a month, and the two took those locks in turns, so one run
-- failed and logged an error for work the other did. Now every maintenance function first takes
-- one transaction-level advisory lock per parent table: the second run waits for the first, then
-- finds nothing left to create or drop.
--
-- The functions of 0001, 0012 and 0014 keep their bodies under new names (renaming keeps them
-- whole rather than restating them); the old names become wrappers that take the lock first, so
-- callers are unchanged.
CREATE FUNCTION private.lock_partition_maintenance(parent regclass)
RETURNS void
LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(hashtext('private.partition_maintenance'), hashtext(parent::oid::text))
$$;
--> statement-breakpoint
ALTER FUNCTION private.ensure_monthly_partitions(regclass, integer) RENAME TO create_monthly_partitions;
--> statement-breakpoint
CREATE FUNCTION private.ensure_monthly_partitions(parent regclass, months_ahead integer)
RETURNS SETOF text
LANGUAGE sql AS $$
  SELECT private.lock_partition_maintenance(parent);
  SELECT * FROM private.create_monthly_partitions(parent, months_ahead);
$$;
--> statement-breakpoint
ALTER FUNCTION private.drop_monthly_partitions_before(regclass, integer) RENAME TO drop_monthly_partitions_before_unlocked;
--> statement-breakpoint
CREATE FUNCTION private.drop_monthly_partitions_before(parent regclass, keep_months int)
RETURNS SETOF text
LANGUAGE sql AS $$
  SELECT private.lock_partition_maintenance(parent);
  SELECT * FROM private.drop_monthly_partitions_before_unlocked(parent, keep_months);
$$;
--> statement-breakpoint
ALTER FUNCTION private.delete_default_rows_before(regclass, integer) RENAME TO delete_default_rows_before_unlocked;
--> statement-breakpoint
CREATE FUNCTION private.delete_default_rows_before(parent regclass, keep_months int)
RETURNS bigint
LANGUAGE sql AS $$
  SELECT private.lock_partition_maintenance(parent);
  SELECT private.delete_default_rows_before_unlocked(parent, keep_months);
$$;
