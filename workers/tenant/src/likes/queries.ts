import type { DbError, Queryable } from "../../../common/db";
import { ok, type Result } from "../../../common/result";
import {
  JUDGED_COLUMNS,
  JUDGED_FROM,
  type OfMemberRefusal,
  ofMember,
  onOfMember,
} from "../content/of-member";
import { likedBy } from "./sql";

/**
 * Members' likes of the posts of their community (post_likes). Every statement checks the
 * caller's membership itself and reads the post `$3` only in the resolved community and only
 * while it is not deleted (ofMember, which locks the post first for a like's write). A like
 * stays when its member leaves the community, as their posts do; it goes when they unlike (which
 * one who left may still do), or are erased.
 */

/** Why nothing was done: the caller is no member of an active community; the post is not in it. */
export type LikeRefusal = OfMemberRefusal;

/** The caller's like of a post, and the post's count of likes as the statement left it. */
export interface LikeState {
  post_id: string;
  liked: boolean;
  likes: number;
}

/** The caller's own like of the post: one who left the community may still take it back. */
const THEIRS = "EXISTS (SELECT 1 FROM public.post_likes l WHERE l.post_id = x.id AND l.user_id = $2::uuid)";

/**
 * `changed` the like rows the statement wrote (added) or deleted (taken back), so the count is
 * the one its trigger (db/migrations/0036) leaves: the post's count as the statement found it,
 * plus or minus the caller's own. Likes of others committed while it ran are counted from the
 * next read on.
 */
function likeStatement(change: "like" | "unlike"): string {
  const write =
    change === "like"
      ? `INSERT INTO public.post_likes (post_id, user_id)
         SELECT t.id, $2::uuid FROM target t
         ON CONFLICT (post_id, user_id) DO NOTHING RETURNING post_id`
      : `DELETE FROM public.post_likes l USING target t
          WHERE l.post_id = t.id AND l.user_id = $2::uuid RETURNING l.post_id`;
  const sign = change === "like" ? "+" : "-";
  const judged = ofMember("posts", "x.total_likes", {
    locked: true,
    theirs: change === "unlike" ? THEIRS : undefined,
  });
  return `WITH ${judged}, changed AS (${write})
  SELECT ${JUDGED_COLUMNS},
         greatest(t.total_likes ${sign} (SELECT count(*) FROM changed)::int, 0) AS likes
    FROM ${JUDGED_FROM}`;
}

const LIKE_SQL = likeStatement("like");
const UNLIKE_SQL = likeStatement("unlike");

/**
 * The caller likes a post of the community (`liked`), or takes their like back. Either is the
 * same again whether or not it was so before: a retry changes nothing, and counts nothing twice.
 */
export async function setLike(
  sql: Queryable,
  tenantId: string,
  userId: string,
  postId: string,
  liked: boolean,
): Promise<Result<LikeState, LikeRefusal | DbError>> {
  const found = await onOfMember<{ likes: number }>(
    sql,
    liked ? LIKE_SQL : UNLIKE_SQL,
    tenantId,
    userId,
    postId,
  );
  if (!found.ok) return found;
  return ok({ post_id: postId, liked, likes: found.value.likes });
}

/** One member's like, as a client is shown it. */
export interface Liker {
  user_id: string;
  display_name: string | null;
  liked_at: string;
}

/** The likes of a post: how many, whether the caller's is among them, and one page of who. */
export interface Likes {
  likes: number;
  liked: boolean;
  likers: Liker[];
}

/**
 * `$4` the last user id of the page before, `$5` the page's size. The page walks the primary key
 * (post_id, user_id) from `$4`, so a page costs its own rows whatever the post's count; the count
 * is the post's own, which the triggers keep.
 */
const LIKES_SQL = `WITH ${ofMember("posts", "x.total_likes")}
  SELECT ${JUDGED_COLUMNS}, t.total_likes AS likes, ${likedBy("t.id", "$2")},
         (SELECT coalesce(json_agg(r), '[]'::json) FROM (
            SELECT l.user_id, u.display_name, to_json(l.created_at) #>> '{}' AS liked_at
              FROM public.post_likes l JOIN public.users u ON u.id = l.user_id
             WHERE l.post_id = t.id AND ($4::uuid IS NULL OR l.user_id > $4::uuid)
             ORDER BY l.user_id LIMIT $5::int
          ) r) AS likers
    FROM ${JUDGED_FROM}`;

export async function listLikes(
  sql: Queryable,
  tenantId: string,
  userId: string,
  postId: string,
  page: { after?: string; limit: number },
): Promise<Result<Likes, LikeRefusal | DbError>> {
  const found = await onOfMember<Likes>(
    sql,
    LIKES_SQL,
    tenantId,
    userId,
    postId,
    page.after ?? null,
    page.limit,
  );
  if (!found.ok) return found;
  const { likes, liked, likers } = found.value;
  return ok({ likes, liked, likers });
}
