-- A user's deletion sets events.created_by and content_sharing.shared_by to null; without these
-- indexes each deletion (DELETE /admin/users/{id}) scans both tables. Migrations run in one
-- transaction, so these builds block writes to the two tables while they run: on a large
-- database, build them first by hand with CREATE INDEX CONCURRENTLY (same names and columns),
-- and IF NOT EXISTS makes this migration keep them.
CREATE INDEX IF NOT EXISTS "idx_content_sharing_shared_by" ON "content_sharing" USING btree ("shared_by");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "idx_events_created_by" ON "events" USING btree ("created_by");
