import { index, pgTable, primaryKey, uuid } from "drizzle-orm/pg-core";
import { createdAt } from "./columns";
import { posts } from "./posts";
import { users } from "./users";

/**
 * Members' likes of the posts of their community: one row a member and post; unliking deletes
 * it. posts.total_likes counts them, kept by triggers on this table (db/migrations/0036), so
 * every way a like goes (unliking, the post's or the user's deletion) takes it off the count.
 */
export const postLikes = pgTable(
  "post_likes",
  {
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: createdAt(),
  },
  (t) => [
    // A post's likes in user-id order: the likers list's keyset, and the one like of a member.
    primaryKey({ name: "post_likes_pkey", columns: [t.postId, t.userId] }),
    // Erasing a user deletes their likes: without an index each erasure scans every like.
    // In post order: the pages of their export.
    index("idx_post_likes_by_user").on(t.userId, t.postId),
  ],
);
