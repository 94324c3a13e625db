CREATE TABLE "dead_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"job_id" uuid,
	"queue" text NOT NULL,
	"kind" text NOT NULL,
	"message" jsonb NOT NULL,
	"error" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"replayed_at" timestamp with time zone,
	"replay_count" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "dead_jobs_kind" CHECK (kind IN ('invalid', 'rejected', 'exhausted'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "dead_jobs_job_id_key" ON "dead_jobs" USING btree ("job_id");--> statement-breakpoint
CREATE INDEX "idx_dead_jobs_created" ON "dead_jobs" USING btree ("created_at" DESC NULLS FIRST);