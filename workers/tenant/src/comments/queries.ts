import { MODERATOR_ROLES } from "../../../common/authz";
import type { DbError, Queryable } from "../../../common/db";
import type { CreatedPosition } from "../../../common/pages";
import { err, ok, type Result } from "../../../common/result";
import { removalAudit } from "../audit/queries";
import {
  JUDGED_COLUMNS,
  JUDGED_FROM,
  type OfMemberRefusal,
  ofMember,
  onOfMember,
} from "../content/of-member";

/**
 * Members' comments on the posts of their community (post_comments). Every statement checks the
 * caller's membership itself and reads the post `$3` only in the resolved community and only
 * while it is not deleted (ofMember, which locks the post first for a comment's write). A
 * comment stays when its author leaves the community, as their posts do; it goes when they (a
 * member or not) or a moderator delete it, or when they are erased.
 */

/**
 * Why nothing was done: the caller is no member of an active community; the post is not in it;
 * no such comment on it; the comment is another's and the caller moderates nothing; the same
 * request (Idempotency-Key) is being written at this moment.
 */
export type CommentRefusal = OfMemberRefusal | "no_such_comment" | "not_moderator" | "in_flight";

/** A comment as a client is shown it. */
export interface Comment {
  id: string;
  post_id: string;
  user_id: string;
  display_name: string | null;
  content: string;
  created_at: string;
}

/** What a client is shown of a comment `c` and its author `u`; times as the feed prints them. */
const SHOWN = `c.id, c.post_id, c.user_id, u.display_name, c.content, to_json(c.created_at) #>> '{}' AS created_at`;

/** What the statements read of the post (`x` in ofMember's target), besides its id. */
const COLUMNS = "x.tenant_id, x.user_id AS author, x.total_comments";

/**
 * The author of the post is told of a comment (`post_commented`), in the statement that makes
 * it, as a member who answered an event is told of its changes (db/migrations/0034): not for
 * their own comment, not once they have left the community, not if they muted the community or
 * the type. The comment's id is the notice's job id, so a request repeated with its
 * Idempotency-Key, which makes no second comment, tells no one twice, and the notice goes with
 * the comment however it goes (a trigger, db/migrations/0039).
 */
const TOLD = `told AS (
    INSERT INTO public.notifications (job_id, user_id, tenant_id, type, title, message, data)
    SELECT m.id, t.author, t.tenant_id, 'post_commented',
           coalesce(u.display_name, 'A member') || ' commented on your post', m.content,
           jsonb_build_object('post_id', t.id, 'comment_id', m.id, 'user_id', m.user_id)
      FROM made m JOIN target t ON t.id = m.post_id
      JOIN public.users u ON u.id = m.user_id
      JOIN public.tenant_users tu ON tu.tenant_id = t.tenant_id AND tu.user_id = t.author
     WHERE t.author <> m.user_id
       AND NOT private.notification_muted(tu.notification_preferences, 'post_commented')
    ON CONFLICT (job_id, user_id) DO NOTHING
  )`;

/**
 * `$4` the comment's id, `$5` its time (the worker's, as a post's: content/queries.ts `Made`),
 * `$6` its text. A repeated request (an id already taken, which only an Idempotency-Key makes)
 * answers the comment the first one made, if it is still there.
 */
const CREATE_SQL = `WITH ${ofMember("posts", COLUMNS, { locked: true })},
  made AS (
    INSERT INTO public.post_comments AS c (id, post_id, user_id, content, created_at)
    SELECT $4::uuid, t.id, $2::uuid, $6::text, $5::timestamptz FROM target t
    ON CONFLICT (id) DO NOTHING
    RETURNING c.*
  ), ${TOLD}
  SELECT ${JUDGED_COLUMNS}, (SELECT to_json(r) FROM (
           SELECT ${SHOWN} FROM made c JOIN public.users u ON u.id = c.user_id
           UNION ALL
           SELECT ${SHOWN} FROM public.post_comments c JOIN public.users u ON u.id = c.user_id
            WHERE c.id = $4::uuid AND c.post_id = t.id AND c.user_id = $2::uuid
              AND NOT EXISTS (SELECT 1 FROM made)) r) AS comment
    FROM ${JUDGED_FROM}`;

export interface NewComment {
  id: string;
  /** The creation time, as the worker's clock has it (an ISO time in ms). */
  at: string;
  content: string;
}

/** The caller comments on a post of the community; answers the comment as a client is shown it. */
export async function createComment(
  sql: Queryable,
  tenantId: string,
  userId: string,
  postId: string,
  made: NewComment,
): Promise<Result<Comment, CommentRefusal | DbError>> {
  const found = await onOfMember<{ comment: Comment | null }>(
    sql,
    CREATE_SQL,
    tenantId,
    userId,
    postId,
    made.id,
    made.at,
    made.content,
  );
  if (!found.ok) return found;
  // No comment: the same id is being inserted by a concurrent request, which this statement's
  // snapshot, taken before it waited for it, cannot see (as content/queries.ts createContent).
  return found.value.comment ? ok(found.value.comment) : err("in_flight");
}

/** A post's comments: how many, and one page of them. */
export interface Comments {
  comments: number;
  items: Comment[];
}

/**
 * Oldest first, keyset-paged on (created_at, id) after `$4`, `$5`, `$6` rows a page: the walk of
 * idx_post_comments_post, so a page costs its own rows whatever the post's count. The plain
 * `created_at >=` is what the index seeks on (as the inbox's, inbox/queries.ts); the row
 * comparison only breaks ties. The count is the post's own, which the triggers keep.
 */
const LIST_SQL = `WITH ${ofMember("posts", COLUMNS)}
  SELECT ${JUDGED_COLUMNS}, t.total_comments AS comments,
         (SELECT coalesce(json_agg(r), '[]'::json) FROM (
            SELECT ${SHOWN} FROM public.post_comments c JOIN public.users u ON u.id = c.user_id
             WHERE c.post_id = t.id
               AND ($4::timestamptz IS NULL
                    OR (c.created_at >= $4::timestamptz AND (c.created_at, c.id) > ($4::timestamptz, $5::uuid)))
             ORDER BY c.created_at, c.id LIMIT $6::int
          ) r) AS items
    FROM ${JUDGED_FROM}`;

export async function listComments(
  sql: Queryable,
  tenantId: string,
  userId: string,
  postId: string,
  page: { after?: CreatedPosition; limit: number },
): Promise<Result<Comments, CommentRefusal | DbError>> {
  const found = await onOfMember<Comments>(
    sql,
    LIST_SQL,
    tenantId,
    userId,
    postId,
    page.after?.created_at ?? null,
    page.after?.id ?? null,
    page.limit,
  );
  if (!found.ok) return found;
  return ok({ comments: found.value.comments, items: found.value.items });
}

/**
 * Deletes the comment `$4` of the post: its author, also once they have left the community (their
 * words are theirs to take back), or a moderator or admin of the community (MODERATOR_ROLES as
 * `$5`, the rule of content deletion, authz.ts, read by private.membership). One statement
 * decides and deletes, and says what it saw so the refusal can be named. Two deletions at once:
 * the second finds the comment gone once it has the post's lock, and answers no_such_comment.
 * The notice that told the post's author of it (TOLD) goes too, by the trigger that counts it off
 * (db/migrations/0039): it holds the comment's words.
 */
const DELETE_SQL = `WITH ${ofMember("posts", COLUMNS, {
  locked: true,
  theirs:
    "EXISTS (SELECT 1 FROM public.post_comments c WHERE c.id = $4::uuid AND c.post_id = x.id AND c.user_id = $2::uuid)",
})},
  comment AS (SELECT c.id, c.user_id FROM public.post_comments c JOIN target t ON c.post_id = t.id WHERE c.id = $4::uuid),
  gone AS (
    DELETE FROM public.post_comments c USING comment k
     WHERE c.id = k.id
       AND (k.user_id = $2::uuid
            OR coalesce((SELECT m.admin FROM private.membership($1::uuid, $2::uuid, $5::text[]) m), false))
    RETURNING c.id, c.user_id
  ), ${removalAudit("comment.removed", { authorColumn: "user_id", actor: "$2::uuid", request: "$6::text", tenant: "$1::uuid" })}
  SELECT ${JUDGED_COLUMNS}, k.id IS NOT NULL AS exists, EXISTS (SELECT 1 FROM gone) AS deleted
    FROM ${JUDGED_FROM} LEFT JOIN comment k ON true`;

export async function deleteComment(
  sql: Queryable,
  tenantId: string,
  userId: string,
  postId: string,
  commentId: string,
  requestId: string,
): Promise<Result<null, CommentRefusal | DbError>> {
  const found = await onOfMember<{ exists: boolean; deleted: boolean }>(
    sql,
    DELETE_SQL,
    tenantId,
    userId,
    postId,
    commentId,
    MODERATOR_ROLES,
    requestId,
  );
  if (!found.ok) return found;
  if (found.value.deleted) return ok(null);
  return err(found.value.exists ? "not_moderator" : "no_such_comment");
}
