import { sql } from "drizzle-orm";
import { boolean, index, jsonb, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { createdAt, emptyObject, id } from "./columns";
import { tenants } from "./tenants";
import { users } from "./users";

export const notifications = pgTable(
  "notifications",
  {
    id: id(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    tenantId: uuid("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    type: text("type").notNull(),
    title: text("title").notNull(),
    message: text("message").notNull(),
    data: jsonb("data").$type<Record<string, unknown>>().notNull().default(emptyObject),
    isRead: boolean("is_read").notNull().default(false),
    createdAt: createdAt(),
    jobId: uuid("job_id").notNull(),
  },
  (t) => [
    // One job fans out to several recipients; a redelivered job must not notify anyone twice.
    uniqueIndex("notifications_job_recipient_key").on(t.jobId, t.userId),
    // The inbox's order whole, ties by id included, so a page deep in it is a seek and a short
    // read (GET /v1/notifications); on (user_id, created_at) alone the planner sorted every older row.
    index("idx_notifications_inbox").on(t.userId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    // The unread ones alone, in the same order: the inbox's `unread=true`, the unread count and
    // "mark all read" read a few unread rows here rather than walk past every read one (read is
    // what almost all of a long inbox is). Marking read moves a row out, so it is never HOT.
    index("idx_notifications_unread")
      .on(t.userId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst())
      .where(sql`is_read = false`),
  ],
);
