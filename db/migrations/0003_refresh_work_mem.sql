-- Hand-written: a function-level setting drizzle cannot express. The concurrent refresh of
-- mv_user_communities diffs the old and new contents with hash joins and sorts; with the
-- default 4MB work_mem they spill to disk (measured at the benchmark's default sizes: ~1000 ms
-- a refresh at 4MB, ~930 ms at 64MB, no gain above). Only this function's session gets it.
ALTER FUNCTION private.refresh_user_communities() SET work_mem = '64MB';
