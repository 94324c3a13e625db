import { index, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { createdAt, id } from "./columns";
import { posts } from "./posts";
import { users } from "./users";

/**
 * Members' comments on the posts of their community. posts.total_comments counts them, kept by
 * triggers on this table (db/migrations/0039), as post_likes' are, so every way a comment goes
 * (its deletion, the post's or the author's) takes it off the count. Deleted outright: a comment
 * is its author's words, and they go when the author or a moderator says so.
 */
export const postComments = pgTable(
  "post_comments",
  {
    id: id(),
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    content: text("content").notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    // A post's comments oldest first, ties by id: the list's keyset, a seek and a short read a page.
    index("idx_post_comments_post").on(t.postId, t.createdAt, t.id),
    // Erasing a user deletes their comments: without an index each erasure scans every comment.
    // In id order: the pages of their export.
    index("idx_post_comments_by_user").on(t.userId, t.id),
  ],
);

export type PostComment = typeof postComments.$inferSelect;
