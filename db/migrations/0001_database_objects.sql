-- Hand-written: everything drizzle-kit cannot express. Each block says why it exists.

-- Maintenance objects live outside the API-visible public schema.
CREATE SCHEMA IF NOT EXISTS private;
--> statement-breakpoint
REVOKE ALL ON SCHEMA private FROM PUBLIC;
--> statement-breakpoint

-- updated_at is the version the tenant cache and content updates compare. A statement that
-- sets updated_at itself (a content update carrying its job's time) keeps its value; any other
-- update is stamped with now().
CREATE OR REPLACE FUNCTION private.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenants', 'tenant_users', 'posts', 'events', 'user_journeys', 'journey_activities']
  LOOP
    EXECUTE format(
      'CREATE TRIGGER %I BEFORE UPDATE ON public.%I FOR EACH ROW EXECUTE FUNCTION private.touch_updated_at()',
      t || '_touch_updated_at', t);
  END LOOP;
END
$$;
--> statement-breakpoint

-- Monthly range partitions, created idempotently for the current month (UTC) and months_ahead
-- after it. Rows that already fell into the DEFAULT partition for a month being created are
-- moved into the new partition first: Postgres refuses to create a partition whose range
-- overlaps rows held by DEFAULT. Returns the names of the partitions it created.
CREATE OR REPLACE FUNCTION private.ensure_monthly_partitions(parent regclass, months_ahead integer)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  parent_schema text;
  parent_name text;
  part_column text;
  default_rel regclass;
  month_start timestamptz;
  month_end timestamptz;
  part_name text;
  has_rows boolean;
  i integer;
BEGIN
  IF months_ahead < 0 OR months_ahead > 120 THEN
    RAISE EXCEPTION 'months_ahead must be between 0 and 120, got %', months_ahead;
  END IF;

  SELECT n.nspname, c.relname INTO parent_schema, parent_name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.oid = parent;

  SELECT a.attname INTO part_column
  FROM pg_partitioned_table p
  JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
  WHERE p.partrelid = parent AND p.partstrat = 'r' AND p.partnatts = 1;
  IF part_column IS NULL THEN
    RAISE EXCEPTION '% is not range-partitioned on one column', parent;
  END IF;

  SELECT inh.inhrelid::regclass INTO default_rel
  FROM pg_inherits inh JOIN pg_class c ON c.oid = inh.inhrelid
  WHERE inh.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';

  FOR i IN 0..months_ahead LOOP
    month_start := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i)) AT TIME ZONE 'UTC';
    month_end := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i + 1)) AT TIME ZONE 'UTC';
    part_name := parent_name || '_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');

    CONTINUE WHEN to_regclass(format('%I.%I', parent_schema, part_name)) IS NOT NULL;

    has_rows := false;
    IF default_rel IS NOT NULL THEN
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I >= %L AND %I < %L)',
        default_rel, part_column, month_start, part_column, month_end) INTO has_rows;
    END IF;

    IF has_rows THEN
      EXECUTE format(
        'CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
        parent_schema, part_name, parent);
      EXECUTE format(
        'WITH moved AS (DELETE FROM %s WHERE %I >= %L AND %I < %L RETURNING *) INSERT INTO %I.%I SELECT * FROM moved',
        default_rel, part_column, month_start, part_column, month_end, parent_schema, part_name);
      EXECUTE format(
        'ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
        parent, parent_schema, part_name, month_start, month_end);
    ELSE
      EXECUTE format(
        'CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
        parent_schema, part_name, parent, month_start, month_end);
    END IF;
    RETURN NEXT part_name;
  END LOOP;
END
$$;
--> statement-breakpoint

-- How many rows sit in a partitioned table's DEFAULT partition: rows there mean the monthly
-- partitions fell behind (or a date is far off), and the daily cron warns about it.
CREATE OR REPLACE FUNCTION private.default_partition_rows(parent regclass)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
  default_rel regclass;
  n bigint;
BEGIN
  SELECT inh.inhrelid::regclass INTO default_rel
  FROM pg_inherits inh JOIN pg_class c ON c.oid = inh.inhrelid
  WHERE inh.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';
  IF default_rel IS NULL THEN
    RETURN 0;
  END IF;
  EXECUTE format('SELECT count(*) FROM %s', default_rel) INTO n;
  RETURN n;
END
$$;
--> statement-breakpoint

-- DEFAULT partitions: an insert never fails for lack of a monthly partition.
CREATE TABLE public.journey_activities_default PARTITION OF public.journey_activities DEFAULT;
--> statement-breakpoint
CREATE TABLE public.analytics_events_default PARTITION OF public.analytics_events DEFAULT;
--> statement-breakpoint
SELECT count(*) FROM private.ensure_monthly_partitions('public.journey_activities', 12);
--> statement-breakpoint
SELECT count(*) FROM private.ensure_monthly_partitions('public.analytics_events', 12);
--> statement-breakpoint

-- The original design's view, same columns and unique index, but without its self-join on
-- tenant_users (member_count grouped over every member pair, quadratic in community size) and
-- without a correlated subquery per row: member and recent-post counts are aggregated once per
-- tenant and joined, so refresh cost grows linearly with memberships plus recent posts.
-- Deleted posts are not activity, so they are not counted (the original counted them).
CREATE MATERIALIZED VIEW private.mv_user_communities AS
WITH member_counts AS (
  SELECT tenant_id, count(*) AS member_count
  FROM public.tenant_users
  GROUP BY tenant_id
), recent_posts AS (
  SELECT tenant_id, count(*) AS recent_activity_count
  FROM public.posts
  WHERE created_at > now() - interval '30 days' AND deleted_at IS NULL
  GROUP BY tenant_id
)
SELECT
  tu.user_id,
  t.id AS tenant_id,
  t.name AS tenant_name,
  t.slug AS tenant_slug,
  t.logo_url,
  tu.role,
  tu.is_admin,
  tu.expertise_level,
  tu.interests,
  tu.display_in_feed,
  mc.member_count,
  coalesce(rp.recent_activity_count, 0)::bigint AS recent_activity_count
FROM public.tenant_users tu
JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
JOIN member_counts mc ON mc.tenant_id = t.id
LEFT JOIN recent_posts rp ON rp.tenant_id = t.id;
--> statement-breakpoint
-- Required by REFRESH ... CONCURRENTLY, and the lookup key of "my communities".
CREATE UNIQUE INDEX idx_mv_user_communities_user_tenant ON private.mv_user_communities (user_id, tenant_id);
--> statement-breakpoint

-- When each view was last refreshed: "my communities" reports it as data_as_of.
CREATE TABLE private.view_refreshes (
  view_name text PRIMARY KEY,
  refreshed_at timestamptz NOT NULL,
  duration_ms double precision NOT NULL
);
--> statement-breakpoint
INSERT INTO private.view_refreshes (view_name, refreshed_at, duration_ms)
VALUES ('private.mv_user_communities', now(), 0);
--> statement-breakpoint

-- Refreshed by the batch worker's cron, never by per-statement triggers (the original refreshed
-- the whole view after every post insert). The transaction-scoped advisory lock makes a second
-- concurrent caller return false at once instead of queueing behind the first refresh.
CREATE OR REPLACE FUNCTION private.refresh_user_communities()
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz := clock_timestamp();
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('private.mv_user_communities')) THEN
    RETURN false;
  END IF;
  REFRESH MATERIALIZED VIEW CONCURRENTLY private.mv_user_communities;
  INSERT INTO private.view_refreshes (view_name, refreshed_at, duration_ms)
  VALUES ('private.mv_user_communities', started,
          extract(epoch FROM clock_timestamp() - started) * 1000)
  ON CONFLICT (view_name) DO UPDATE
    SET refreshed_at = excluded.refreshed_at, duration_ms = excluded.duration_ms;
  RETURN true;
END
$$;
--> statement-breakpoint

-- The original's pooling function set these with ALTER ROLE/ALTER SYSTEM at runtime; Neon
-- forbids ALTER SYSTEM, and the rest belongs in the server's own sizing. The app's sessions get
-- the two limits that protect a shared database from a runaway query or a stuck transaction.
-- The workers also send them as startup options; this role default covers a proxy that drops
-- those. Tooling that legitimately runs long (migrations, benchmark loads) overrides them.
DO $$
BEGIN
  EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', current_user, '30s');
  EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', current_user, '60s');
END
$$;
