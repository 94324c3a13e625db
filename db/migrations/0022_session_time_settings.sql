-- Hand-written: role settings, which drizzle cannot express.
--
-- Times leave Postgres as text written in the session's TimeZone (to_json, which the feed and the
-- admin listings use to keep microseconds) and DateStyle (what the driver parses into Dates).
-- Neon's default is UTC and ISO, but a database can default to anything: ALTER DATABASE … SET
-- timezone, or a local server initialised on a machine that is not on UTC. The API then answered
-- times with that zone's offset, and before 1900 with its local mean time, an offset in seconds
-- (+05:53:28) that is no RFC 3339 and that JavaScript's Date cannot read; and a DateStyle other
-- than ISO is text the driver misreads. So the app's sessions are pinned, as 0001 pins their
-- limits: settings of the role that runs the migrations (the workers' role; the README says what
-- to do for another), which override a database's own defaults, on every transport and through
-- any pooler, and cost no round trip.
DO $$
BEGIN
  EXECUTE format('ALTER ROLE %I SET timezone = %L', current_user, 'UTC');
  EXECUTE format('ALTER ROLE %I SET datestyle = %L', current_user, 'ISO, MDY');
  EXECUTE format('ALTER ROLE %I SET intervalstyle = %L', current_user, 'postgres');
END
$$;
