import { attempt, type DbError, type Queryable } from "../../../common/db";
import { err, ok, type Result } from "../../../common/result";
import { IS_MEMBER } from "../auth/membership";
import { likedBy } from "./sql";

/**
 * Members' likes of the posts of their community (post_likes). Every statement checks the
 * caller's membership itself (IS_MEMBER: `$1` tenant, `$2` user), as content does, and reads the
 * post `$3` only in the resolved community and only while it is not deleted. A like stays when
 * its member leaves the community, as their posts do; it goes when they unlike, or are erased.
 */

/** Why nothing was done: the caller is no member of an active community; the post is not in it. */
export type LikeRefusal = "not_member" | "no_such_post";

/** The caller's like of a post, and the post's count of likes as the statement left it. */
export interface LikeState {
  post_id: string;
  liked: boolean;
  likes: number;
}

/**
 * The caller's membership (`member.yes`) and the live post `$3` of the community (`target`),
 * `locked` for a statement that adds or deletes a like. Its trigger then updates the post's
 * count, so the post's row is taken first, before any like's: a user's erasure takes the rows
 * in that order too (deleting their posts, then the likes of them), and a statement taking
 * them the other way round, a like then its post, could deadlock with it. A post deleted while the
 * lock was awaited is then read as gone. Only a member's statement reads (and locks) the post.
 */
const judged = (locked: boolean) => `member AS (SELECT ${IS_MEMBER} AS yes),
  target AS (SELECT p.id, p.total_likes FROM public.posts p
              WHERE p.id = $3::uuid AND p.tenant_id = $1::uuid AND p.deleted_at IS NULL
                AND (SELECT yes FROM member)
              ${locked ? "FOR NO KEY UPDATE" : ""})`;

interface Judged {
  member: boolean;
  found: boolean;
}

const JUDGED_COLUMNS = "member.yes AS member, t.id IS NOT NULL AS found";
const JUDGED_FROM = "member LEFT JOIN target t ON true";

function refusalOf(row: Judged | undefined): LikeRefusal | null {
  if (!row?.member) return "not_member";
  return row.found ? null : "no_such_post";
}

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
         SELECT t.id, $2::uuid FROM member, target t WHERE member.yes
         ON CONFLICT (post_id, user_id) DO NOTHING RETURNING post_id`
      : `DELETE FROM public.post_likes l USING member, target t
          WHERE member.yes AND l.post_id = t.id AND l.user_id = $2::uuid RETURNING l.post_id`;
  const sign = change === "like" ? "+" : "-";
  return `WITH ${judged(true)}, changed AS (${write})
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
  const found = await attempt(() =>
    sql.query<Judged & { likes: number | null }>(liked ? LIKE_SQL : UNLIKE_SQL, [tenantId, userId, postId]),
  );
  // 23503: the caller was erased while their like was made (the post is locked first, so it is
  // not the post's key): no longer a member.
  if (!found.ok) return found.error.code === "23503" ? err("not_member") : found;
  const [row] = found.value.rows;
  const refusal = refusalOf(row);
  if (refusal !== null) return err(refusal);
  return ok({ post_id: postId, liked, likes: row?.likes ?? 0 });
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
const LIKES_SQL = `WITH ${judged(false)}
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
  const found = await attempt(() =>
    sql.query<Judged & Likes>(LIKES_SQL, [tenantId, userId, postId, page.after ?? null, page.limit]),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  const refusal = refusalOf(row);
  if (refusal !== null || !row) return err(refusal ?? "not_member");
  const { likes, liked, likers } = row;
  return ok({ likes, liked, likers });
}
