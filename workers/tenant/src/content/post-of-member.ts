import { attempt, type DbError, type Queryable } from "../../../common/db";
import { err, ok, type Result } from "../../../common/result";
import { IS_MEMBER } from "../auth/membership";

/**
 * The opening of a statement on one post of the community for one of its members, as likes and
 * comments write theirs: `$1` tenant, `$2` user, `$3` post. `member.yes` is the caller's
 * membership (IS_MEMBER); `target` the live post `$3` of the community with `columns` of it (`p`),
 * read only for a member, or where `theirs` (a condition on `p`) finds a row of the caller's on
 * it: one who left the community may still take back their own like or comment, and learns
 * nothing of a post where they have none. `locked` for a statement that adds or deletes a row
 * whose trigger updates the post's count: the post's row is then taken first, before that row's,
 * the order a user's erasure takes them in too (it locks the posts, then deletes the likes and
 * comments of them, db/migrations/0038 and 0039); a statement taking them the other way round
 * could deadlock with it. A post deleted while the lock was awaited is then read as gone.
 */
export const postOfMember = (
  columns: string,
  locked: boolean,
  theirs?: string,
) => `member AS (SELECT ${IS_MEMBER} AS yes),
  target AS (SELECT p.id, ${columns} FROM public.posts p
              WHERE p.id = $3::uuid AND p.tenant_id = $1::uuid AND p.deleted_at IS NULL
                AND ((SELECT yes FROM member)${theirs ? ` OR ${theirs}` : ""})
              ${locked ? "FOR NO KEY UPDATE" : ""})`;

/** What a statement opened by postOfMember says it saw, from JUDGED_FROM as JUDGED_COLUMNS. */
export interface Judged {
  member: boolean;
  found: boolean;
}

export const JUDGED_COLUMNS = "member.yes AS member, t.id IS NOT NULL AS found";
export const JUDGED_FROM = "member LEFT JOIN target t ON true";

/**
 * The refusal a statement's row names: none where the post was read (for a member, or for what is
 * the caller's), else 403 for one who is no member, whether or not the post exists, and 404 for a
 * member.
 */
function postRefusal(row: Judged | undefined): "not_member" | "no_such_post" | null {
  if (row?.found) return null;
  return row?.member ? "no_such_post" : "not_member";
}

/**
 * Runs a statement opened by postOfMember (`$1` tenant, `$2` user, `$3` post, `rest` after) and
 * answers its one row, or the refusal it names. 23503, a foreign key, is a write's whose caller
 * was erased while it ran (the post is locked first, so it is not the post's key): no longer a
 * member.
 */
export async function onPostOfMember<R>(
  sql: Queryable,
  statement: string,
  tenantId: string,
  userId: string,
  postId: string,
  ...rest: unknown[]
): Promise<Result<R, "not_member" | "no_such_post" | DbError>> {
  const found = await attempt(() => sql.query<Judged & R>(statement, [tenantId, userId, postId, ...rest]));
  if (!found.ok) return found.error.code === "23503" ? err("not_member") : found;
  const [row] = found.value.rows;
  const refusal = postRefusal(row);
  if (refusal !== null || !row) return err(refusal ?? "not_member");
  return ok(row);
}
