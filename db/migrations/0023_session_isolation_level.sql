-- Hand-written: a role setting, which drizzle cannot express.
--
-- The workers' transactions are written for READ COMMITTED, Postgres's own default: a write that
-- waits on a row lock then reads the row as the other transaction left it and carries on (an
-- admin's rename behind another's, content edits ordered by their locks, db/migrations/0019). A
-- database defaulting to REPEATABLE READ or SERIALIZABLE (ALTER DATABASE … SET
-- default_transaction_isolation, as some teams set) failed those instead with a serialization
-- error: the admin API answered 503, edit batches and erasures were retried. Pinned for the
-- app's role as 0001 and 0022 pin its other settings: a role's setting overrides the database's.
DO $$
BEGIN
  EXECUTE format('ALTER ROLE %I SET default_transaction_isolation = %L', current_user, 'read committed');
END
$$;
