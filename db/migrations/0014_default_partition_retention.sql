-- Hand-written: PL/pgSQL functions, which drizzle cannot express.
--
-- Retention reached only the monthly partitions (0012), which go whole. A row whose month had
-- already been dropped lands in the DEFAULT partition, which is never dropped, and outlived the
-- retention: an analytics job replayed from dead_jobs after its month went does that (its
-- created_at is its first enqueue, the partition key). private.delete_default_rows_before
-- deletes the DEFAULT partition's rows before the same cutoff; there are few there, so a plain
-- DELETE is fine. The cutoff is one function now, so dropping and deleting agree, and 0012's
-- drop_monthly_partitions_before is restated to use it (otherwise unchanged).
CREATE FUNCTION private.monthly_retention_cutoff(keep_months int)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF keep_months IS NULL OR keep_months < 1 THEN
    RAISE EXCEPTION 'keep_months must be at least 1, not %', keep_months;
  END IF;
  RETURN (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => keep_months)) AT TIME ZONE 'UTC';
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION private.drop_monthly_partitions_before(parent regclass, keep_months int)
RETURNS SETOF text
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $$
DECLARE
  cutoff timestamptz;
  part record;
BEGIN
  cutoff := private.monthly_retention_cutoff(keep_months);
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
--> statement-breakpoint
-- Deletes the DEFAULT partition's rows whose partition key (a single timestamp column) is before
-- the cutoff; returns how many.
CREATE FUNCTION private.delete_default_rows_before(parent regclass, keep_months int)
RETURNS bigint
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $$
DECLARE
  cutoff timestamptz := private.monthly_retention_cutoff(keep_months);
  default_rel regclass;
  key_column name;
  n bigint;
BEGIN
  -- The catalog names the DEFAULT partition (partdefid, 0 for none) and the key's column.
  SELECT NULLIF(pt.partdefid, 0::oid)::regclass, a.attname INTO default_rel, key_column
    FROM pg_partitioned_table pt
    JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
   WHERE pt.partrelid = parent AND pt.partnatts = 1;
  IF default_rel IS NULL OR key_column IS NULL THEN
    RETURN 0;
  END IF;
  EXECUTE format('DELETE FROM %s WHERE %I < $1', default_rel, key_column) USING cutoff;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
