-- A user's deletion sets events.created_by and content_sharing.shared_by to null; without these
-- indexes each deletion (DELETE /admin/users/{id}) scans both tables.
CREATE INDEX "idx_content_sharing_shared_by" ON "content_sharing" USING btree ("shared_by");--> statement-breakpoint
CREATE INDEX "idx_events_created_by" ON "events" USING btree ("created_by");