import { attempt, type DbError, type Queryable } from "../../../common/db";
import { err, ok, type Result } from "../../../common/result";
import { IS_MEMBER } from "../auth/membership";
import type { ContentKind } from "./queries";

/**
 * The opening of a statement on one post or event of the community for one of its members, as
 * likes, comments and answers to events write theirs: `$1` tenant, `$2` user, `$3` the post or
 * event. `member.yes` is the caller's membership (IS_MEMBER); `target` the live row `$3` of the
 * community (`x`, with `columns` of it), read only for a member, or where `theirs` (a condition on
 * `x`) finds a row of the caller's on it: one who left the community may still take back their
 * own like or comment, and learns nothing of a post where they have none. `locked` for a
 * statement that adds or deletes a row whose trigger updates the post's count: the post's row is
 * then taken first, before that row's, the order a user's erasure takes them in too (it locks the
 * posts, then deletes the likes and comments of them, db/migrations/0038 and 0039); a statement
 * taking them the other way round could deadlock with it. A post deleted while the lock was
 * awaited is then read as gone.
 */
export function ofMember(
  kind: ContentKind,
  columns: string,
  options: { locked?: boolean; theirs?: string } = {},
): string {
  return `member AS (SELECT ${IS_MEMBER} AS yes),
  target AS (SELECT x.id, ${columns} FROM public.${kind} x
              WHERE x.id = $3::uuid AND x.tenant_id = $1::uuid AND x.deleted_at IS NULL
                AND ((SELECT yes FROM member)${options.theirs ? ` OR ${options.theirs}` : ""})
              ${options.locked ? "FOR NO KEY UPDATE" : ""})`;
}

/** What a statement opened by ofMember says it saw, from JUDGED_FROM as JUDGED_COLUMNS. */
interface Judged {
  member: boolean;
  found: boolean;
}

export const JUDGED_COLUMNS = "member.yes AS member, t.id IS NOT NULL AS found";
export const JUDGED_FROM = "member LEFT JOIN target t ON true";

/** Why a statement opened by ofMember did nothing: the caller is no member; no such content for them. */
export type OfMemberRefusal = "not_member" | "no_such_content";

/**
 * The refusal a statement's row names: none where the row was read (for a member, or for what is
 * the caller's), else 403 for one who is no member, whether or not it exists, and 404 for a member.
 */
function refusalOf(row: Judged | undefined): OfMemberRefusal | null {
  if (row?.found) return null;
  return row?.member ? "no_such_content" : "not_member";
}

/**
 * A write that failed a foreign key (23503) lost a row it named while it ran: the caller's user
 * (erased meanwhile: no longer a member) or the post or event (deleted outright meanwhile, which a
 * statement that does not lock its target may meet).
 */
function keyRefusal(e: DbError): OfMemberRefusal | null {
  if (e.code !== "23503") return null;
  return e.constraint?.endsWith("_user_id_users_id_fk") ? "not_member" : "no_such_content";
}

/**
 * Runs a statement opened by ofMember (`$1` tenant, `$2` user, `$3` the post or event, `rest`
 * after) and answers its one row, or the refusal it names.
 */
export async function onOfMember<R>(
  sql: Queryable,
  statement: string,
  tenantId: string,
  userId: string,
  contentId: string,
  ...rest: unknown[]
): Promise<Result<R, OfMemberRefusal | DbError>> {
  const found = await attempt(() => sql.query<Judged & R>(statement, [tenantId, userId, contentId, ...rest]));
  if (!found.ok) {
    const refusal = keyRefusal(found.error);
    return refusal === null ? found : err(refusal);
  }
  const [row] = found.value.rows;
  const refusal = refusalOf(row);
  if (refusal !== null || !row) return err(refusal ?? "not_member");
  return ok(row);
}
