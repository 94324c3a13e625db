-- Hand-written: dropping a function, which drizzle does not manage.
-- leave_community (0027) was left by 0028 for workers deployed before it, which called it to
-- leave; leaving has been private.manage_member since, and no worker deployed after 0028 calls
-- it. It held its own copy of the last-admin rule (without 0031's last owner), and walked a
-- community's memberships to apply it (0043).
DROP FUNCTION IF EXISTS private.leave_community(uuid, uuid, text[]);
