import { sql } from "drizzle-orm";
import { check, index, integer, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { deletedAt, id, timestamps } from "./columns";
import { tenants } from "./tenants";
import { users } from "./users";

export const posts = pgTable(
  "posts",
  {
    id: id(),
    tenantId: uuid("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    content: text("content").notNull(),
    totalLikes: integer("total_likes").notNull().default(0),
    totalComments: integer("total_comments").notNull().default(0),
    ...timestamps(),
    deletedAt: deletedAt(),
  },
  (t) => [
    // Keyset pages of one tenant's live posts, newest first: the feed's per-tenant walk.
    index("idx_posts_tenant_feed")
      .on(t.tenantId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst())
      .where(sql`deleted_at IS NULL`),
    // One global walk filtered by tenant beats many per-tenant walks for users in many tenants.
    index("idx_posts_feed_global")
      .on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst())
      .where(sql`deleted_at IS NULL`),
    // A user's posts in id order: their export's pages (users/export.ts), and their erasure.
    index("idx_posts_by_user").on(t.userId, t.id),
    check("posts_counters_non_negative", sql`total_likes >= 0 AND total_comments >= 0`),
  ],
);

export type Post = typeof posts.$inferSelect;
