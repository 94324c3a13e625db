-- Hand-written: a PL/pgSQL trigger function, which drizzle cannot express.
--
-- updated_at is the version the tenant cache compares: a refresh never replaces an entry with
-- an older version. 0001 stamped it with now(), the start of the writing transaction, so of two
-- concurrent writes to one row the one that began first but committed last (an admin update
-- that waited on the other's row lock) got the older version: the cache then kept the write it
-- had replaced until the KV entry expired. clock_timestamp() is read when the trigger runs,
-- after the row lock is held, so versions follow commit order. A statement that sets
-- updated_at itself (a content update carrying its job's time) still keeps its value.
CREATE OR REPLACE FUNCTION private.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
    NEW.updated_at := clock_timestamp();
  END IF;
  RETURN NEW;
END
$$;
