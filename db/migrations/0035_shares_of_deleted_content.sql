-- Hand-written: a trigger function and its triggers, which drizzle cannot express.
--
-- content_sharing names its post or event by content_type and content_id, one column for two
-- tables, so no foreign key removes a share with its content. A soft delete keeps the row and
-- its shares (every list of shares joins the live content, and a share of content deleted since
-- is still its sharer's to take back). A hard delete leaves nothing to show or take back: a
-- user's erasure deletes their posts by the foreign key's cascade, and their shares stayed,
-- naming content that no longer exists. These triggers delete them in the deleting statement.
-- Per statement, with the deleted rows as a transition table: an erasure of a user with many
-- posts makes one DELETE, by content_sharing_once (content_type, content_id, …). Nothing fires
-- on insert or update, so posting and editing cost what they did.
CREATE OR REPLACE FUNCTION private.forget_shares_of_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM public.content_sharing s USING gone g
   WHERE s.content_type = TG_ARGV[0] AND s.content_id = g.id;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE TRIGGER posts_forget_shares AFTER DELETE ON public.posts
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION private.forget_shares_of_deleted('posts');
--> statement-breakpoint
CREATE OR REPLACE TRIGGER events_forget_shares AFTER DELETE ON public.events
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION private.forget_shares_of_deleted('events');
