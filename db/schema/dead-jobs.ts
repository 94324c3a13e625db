import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { createdAt, id, tstz } from "./columns";
import { users } from "./users";

export const DEAD_JOB_KINDS = ["invalid", "rejected", "exhausted"] as const;
export type DeadJobKind = (typeof DEAD_JOB_KINDS)[number];

/**
 * Jobs the batch worker could not or would not write: malformed messages (`invalid`),
 * unauthorised ones (`rejected`), and ones that ran out of retries (`exhausted`, from the
 * dead-letter queue). The message is kept whole so an admin can replay it.
 */
export const deadJobs = pgTable(
  "dead_jobs",
  {
    id: id(),
    /** Null when the message was too malformed to carry one. */
    jobId: uuid("job_id"),
    queue: text("queue").notNull(),
    kind: text("kind").$type<DeadJobKind>().notNull(),
    message: jsonb("message").notNull(),
    /**
     * The user the message names, while that user exists: erasing the user deletes the row
     * (ON DELETE CASCADE). A foreign key, not a match on the payload, because the lock its check
     * takes orders a dead job being recorded against a concurrent erasure: whichever commits
     * second sees the other (an insert that read the user before the erasure committed fails
     * its check and is retried; one that committed first is deleted by the cascade).
     */
    userId: uuid("user_id").references(() => users.id, { onDelete: "cascade" }),
    error: text("error").notNull(),
    attempts: integer("attempts").notNull().default(0),
    /** When it died; a job that dies again after a replay moves it to its new death. */
    createdAt: createdAt(),
    replayedAt: tstz("replayed_at"),
    replayCount: integer("replay_count").notNull().default(0),
  },
  (t) => [
    uniqueIndex("dead_jobs_job_id_key").on(t.jobId),
    index("idx_dead_jobs_created").on(t.createdAt.desc().nullsFirst()),
    // Bulk replay walks the oldest jobs not replayed since they last died: after an outage the
    // table may hold many thousands already replayed, which each call would otherwise scan past.
    index("idx_dead_jobs_pending")
      .on(t.kind, t.createdAt, t.id)
      .where(sql`replayed_at IS NULL AND job_id IS NOT NULL`),
    // The cascade of a user's erasure finds their dead jobs by it; in id order, the pages of
    // an operator's export of them.
    index("idx_dead_jobs_by_user").on(t.userId, t.id).where(sql`user_id IS NOT NULL`),
    check("dead_jobs_kind", sql`kind IN ('invalid', 'rejected', 'exhausted')`),
  ],
);

export type DeadJob = typeof deadJobs.$inferSelect;
