import { ADMIN_ROLES, MODERATOR_ROLES } from "../../../common/authz";
import { attempt, type DbError, type Queryable } from "../../../common/db";
import type { CreatedPosition } from "../../../common/pages";
import { err, ok, type Result } from "../../../common/result";
import { IS_MEMBER } from "../auth/membership";
import { type ContentKind, contentColumns } from "../content/queries";

/**
 * A community's posts and events shared into another community (content_sharing), where that
 * one's members read them. Sharing shows a community's content to people outside it, so only
 * whoever may speak for it does: the author, or an admin of its community; and only into a
 * community the sharer is a member of, as they could post there. Any member of the community it
 * comes from sees where it went; the members of the one it went into see it, while it is not
 * deleted and its community is active. Who shared it, its author, and the moderators and admins
 * of either community may take it back.
 */

/**
 * Why nothing was done: the caller is no member (of the content's community, or for taking a
 * share back, of either); the content is not in the community, or deleted; the caller may not
 * share it (not_sharer) or take the share back (not_allowed); the community named is not an
 * active one of the caller's; the content is not shared there.
 */
export type ShareRefusal =
  | "not_member"
  | "no_such_content"
  | "not_sharer"
  | "not_target_member"
  | "no_such_share"
  | "not_allowed";

/** A share, as a client is shown it: where the content went, by whom and when. */
export interface Share {
  content_type: ContentKind;
  content_id: string;
  tenant_id: string;
  tenant_name: string;
  tenant_slug: string;
  shared_by: string | null;
  shared_at: string;
}

/** `s`: a content_sharing row; `g`: the community it is shared into. */
const SHARE = `s.content_type, s.content_id, g.id AS tenant_id, g.name AS tenant_name, g.slug AS tenant_slug,
  s.shared_by, to_json(s.created_at) #>> '{}' AS shared_at`;

/**
 * The caller's membership of the active community `$n`: a row (member, admin) if a member, where
 * admin is `is_admin` or a role of `$5`, the roles the statement asks about. The consumer's
 * functions judge by the same function (db/migrations/0006), which the planner inlines.
 */
const membershipOf = (n: number) => `SELECT * FROM private.membership($${n}::uuid, $2::uuid, $5::text[])`;

/**
 * `$1` the content's community, `$2` the caller, `$3` the content, `$4` the community to share
 * into, `$5` the roles that administer a community. One statement judges and writes: whether
 * the caller may share (`sharer`) is decided once, in it, and answered with what else it saw,
 * so the refusal can be named; and the share already there, if any.
 */
function shareStatement(kind: ContentKind): string {
  return `WITH actor AS (${membershipOf(1)}),
    content AS (
      SELECT x.id, x.${contentColumns(kind).author} AS author FROM public.${kind} x
       WHERE x.id = $3::uuid AND x.tenant_id = $1::uuid AND x.deleted_at IS NULL
    ), target AS (SELECT $4::uuid AS id WHERE EXISTS (${membershipOf(4)})),
    sharer AS (SELECT c.author = $2::uuid OR a.admin AS may FROM actor a, content c),
    made AS (
      INSERT INTO public.content_sharing AS s (content_type, content_id, source_tenant_id, target_tenant_id, shared_by)
      SELECT '${kind}', c.id, $1::uuid, g.id, $2::uuid FROM sharer, content c, target g WHERE sharer.may
      ON CONFLICT (content_type, content_id, target_tenant_id) DO NOTHING
      RETURNING s.*
    )
    SELECT a.member IS NOT NULL AS member, c.id IS NOT NULL AS found, coalesce((SELECT may FROM sharer), false) AS may,
           g.id IS NOT NULL AS target_member,
           (SELECT to_json(r) FROM (
              SELECT ${SHARE} FROM made s JOIN public.tenants g ON g.id = s.target_tenant_id) r) AS made,
           (SELECT to_json(r) FROM (
              SELECT ${SHARE} FROM public.content_sharing s JOIN public.tenants g ON g.id = s.target_tenant_id
               WHERE s.content_type = '${kind}' AND s.content_id = $3::uuid AND s.target_tenant_id = $4::uuid) r) AS existing
      FROM (SELECT 1) one LEFT JOIN actor a ON true LEFT JOIN content c ON true LEFT JOIN target g ON true`;
}

const SHARE_SQL: Record<ContentKind, string> = {
  posts: shareStatement("posts"),
  events: shareStatement("events"),
};

/** What the share statement saw: the caller's standing, decided in it once, and the share. */
interface ShareSeen {
  member: boolean;
  found: boolean;
  may: boolean;
  target_member: boolean;
  made: Share | null;
  existing: Share | null;
}

function judgeSharer(row: ShareSeen | undefined): ShareRefusal | null {
  if (!row?.member) return "not_member";
  if (!row.found) return "no_such_content";
  if (!row.may) return "not_sharer";
  return row.target_member ? null : "not_target_member";
}

/**
 * Shares the content `ids.contentId` of the community `ids.tenantId` into `ids.targetId` (never
 * the same community: the route refuses that). A share already there is answered as it is
 * (`made` false), whoever made it: sharing twice is what a client's retry does.
 */
export async function shareContent(
  sql: Queryable,
  kind: ContentKind,
  ids: { tenantId: string; userId: string; contentId: string; targetId: string },
): Promise<Result<{ share: Share; made: boolean }, ShareRefusal | DbError>> {
  const params = [ids.tenantId, ids.userId, ids.contentId, ids.targetId, ADMIN_ROLES];
  // A share being made by another request at this moment: this statement waited for it, and its
  // snapshot, taken before, cannot see it; the second one does.
  for (let run = 0; run < 2; run++) {
    const found = await attempt(() => sql.query<ShareSeen>(SHARE_SQL[kind], params));
    if (!found.ok) return found;
    const [row] = found.value.rows;
    const refusal = judgeSharer(row);
    if (refusal !== null) return err(refusal);
    if (row?.made) return ok({ share: row.made, made: true });
    if (row?.existing) return ok({ share: row.existing, made: false });
  }
  return err("no_such_content");
}

/**
 * `$1` the content's community, `$2` the caller, `$3` the content, `$4` the community it is
 * shared into, `$5` the roles that may moderate (so membership's `admin` reads: moderates). The
 * content may be deleted: a share of it is still its sharer's to take back. A member of either
 * community who may not is told so; anyone else learns nothing of whether it exists.
 */
function unshareStatement(kind: ContentKind): string {
  return `WITH source_role AS (${membershipOf(1)}), target_role AS (${membershipOf(4)}),
    moderates AS (
      SELECT EXISTS (SELECT 1 FROM (SELECT * FROM source_role UNION ALL SELECT * FROM target_role) r
                      WHERE r.admin) AS yes
    ), share AS (
      SELECT s.id, s.shared_by = $2::uuid OR x.${contentColumns(kind).author} = $2::uuid OR m.yes AS may
        FROM public.content_sharing s
        JOIN public.${kind} x ON x.id = s.content_id AND x.tenant_id = $1::uuid
        CROSS JOIN moderates m
       WHERE s.content_type = '${kind}' AND s.content_id = $3::uuid AND s.target_tenant_id = $4::uuid
    ), gone AS (
      DELETE FROM public.content_sharing s USING share sh WHERE s.id = sh.id AND sh.may
      RETURNING s.id
    )
    SELECT EXISTS (SELECT 1 FROM source_role UNION ALL SELECT 1 FROM target_role) AS member,
           sh.id IS NOT NULL AS found, coalesce(sh.may, false) AS may, EXISTS (SELECT 1 FROM gone) AS deleted
      FROM (SELECT 1) one LEFT JOIN share sh ON true`;
}

const UNSHARE_SQL: Record<ContentKind, string> = {
  posts: unshareStatement("posts"),
  events: unshareStatement("events"),
};

/** Takes back the share of content of `ids.tenantId` into `ids.targetId`. */
export async function unshareContent(
  sql: Queryable,
  kind: ContentKind,
  ids: { tenantId: string; userId: string; contentId: string; targetId: string },
): Promise<Result<null, ShareRefusal | DbError>> {
  const params = [ids.tenantId, ids.userId, ids.contentId, ids.targetId, MODERATOR_ROLES];
  const found = await attempt(() =>
    sql.query<{ member: boolean; found: boolean; may: boolean; deleted: boolean }>(UNSHARE_SQL[kind], params),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (!row?.member) return err("not_member");
  if (row.deleted) return ok(null);
  // Allowed but not deleted: another request took it back first.
  return err(row.found && !row.may ? "not_allowed" : "no_such_share");
}

/**
 * `$1` the content's community, `$2` the caller, `$3` the content; the page after (`$4`
 * shared_at, `$5` tenant id), newest first, of at most `$6`. Communities no longer active are
 * left out, as their content is everywhere.
 */
function sharesOfStatement(kind: ContentKind): string {
  return `WITH member AS (SELECT ${IS_MEMBER} AS yes),
    content AS (
      SELECT x.id FROM public.${kind} x WHERE x.id = $3::uuid AND x.tenant_id = $1::uuid AND x.deleted_at IS NULL
    )
    SELECT member.yes AS member, c.id IS NOT NULL AS found,
           (SELECT coalesce(json_agg(r), '[]'::json) FROM (
              SELECT ${SHARE} FROM public.content_sharing s
                JOIN public.tenants g ON g.id = s.target_tenant_id AND g.is_active
               WHERE s.content_type = '${kind}' AND s.content_id = c.id
                 AND ($4::timestamptz IS NULL OR (s.created_at, s.target_tenant_id) < ($4::timestamptz, $5::uuid))
               ORDER BY s.created_at DESC, s.target_tenant_id DESC
               LIMIT $6::int) r) AS shares
      FROM member LEFT JOIN content c ON member.yes`;
}

const SHARES_OF_SQL: Record<ContentKind, string> = {
  posts: sharesOfStatement("posts"),
  events: sharesOfStatement("events"),
};

/** Where a post or event of the community is shared, to its members, a page at a time. */
export async function listSharesOf(
  sql: Queryable,
  kind: ContentKind,
  ids: { tenantId: string; userId: string; contentId: string },
  page: { after?: CreatedPosition; limit: number },
): Promise<Result<Share[], ShareRefusal | DbError>> {
  const found = await attempt(() =>
    sql.query<{ member: boolean; found: boolean; shares: Share[] }>(SHARES_OF_SQL[kind], [
      ids.tenantId,
      ids.userId,
      ids.contentId,
      page.after?.created_at ?? null,
      page.after?.id ?? null,
      page.limit,
    ]),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (!row?.member) return err("not_member");
  return row.found ? ok(row.shares) : err("no_such_content");
}

/**
 * At most this many bytes of text a page of shared content, the first item always, as the feed
 * bounds its own pages (feed/sql.ts says why).
 */
const SHARED_PAGE_BYTES = 2 * 1024 * 1024;

/**
 * `$1` the community, `$2` the caller; the page after (`$3` shared_at, `$4` content id), newest
 * share first: at most `$5` items and `$6` bytes of their text. The candidates are cut by the
 * keyset walk of idx_content_sharing_target first, so a page costs its own rows, however much
 * was shared in before; only they are sized. Deleted content, and content of communities no
 * longer active, is passed over.
 */
function sharedStatement(kind: ContentKind): string {
  const { shown, bytes } = contentColumns(kind);
  return `WITH member AS (SELECT ${IS_MEMBER} AS yes),
    candidates AS (
      SELECT s.content_id, s.created_at, s.shared_by, s.source_tenant_id, ${bytes} AS size
        FROM public.content_sharing s
        JOIN public.${kind} x ON x.id = s.content_id AND x.tenant_id = s.source_tenant_id AND x.deleted_at IS NULL
        JOIN public.tenants src ON src.id = s.source_tenant_id AND src.is_active
       WHERE (SELECT yes FROM member) AND s.target_tenant_id = $1::uuid AND s.content_type = '${kind}'
         AND ($3::timestamptz IS NULL OR (s.created_at, s.content_id) < ($3::timestamptz, $4::uuid))
       ORDER BY s.created_at DESC, s.content_id DESC
       LIMIT $5::int + 1
    ), kept AS (
      SELECT * FROM (
        SELECT c.*, row_number() OVER w AS n, sum(c.size) OVER w AS bytes FROM candidates c
        WINDOW w AS (ORDER BY c.created_at DESC, c.content_id DESC)
      ) c WHERE c.n <= $5::int AND (c.n = 1 OR c.bytes <= $6::bigint)
    )
    SELECT member.yes AS member,
           (SELECT coalesce(json_agg(r), '[]'::json) FROM (
              SELECT x.id, x.tenant_id, src.name AS tenant_name, ${shown},
                     json_build_object('shared_by', k.shared_by, 'shared_at', to_json(k.created_at) #>> '{}',
                                       'source_slug', src.slug) AS share
                FROM kept k JOIN public.${kind} x ON x.id = k.content_id
                JOIN public.tenants src ON src.id = k.source_tenant_id
               ORDER BY k.n) r) AS items,
           (SELECT count(*) FROM kept) < (SELECT count(*) FROM candidates) AS more
      FROM member`;
}

const SHARED_SQL: Record<ContentKind, string> = {
  posts: sharedStatement("posts"),
  events: sharedStatement("events"),
};

/** An item shared into a community: the content as a client is shown it, and its share. */
export interface SharedItem {
  id: string;
  share: { shared_by: string | null; shared_at: string; source_slug: string };
}

/** One page of what other communities shared into the caller's community `tenantId`. */
export async function listShared<R extends SharedItem>(
  sql: Queryable,
  kind: ContentKind,
  ids: { tenantId: string; userId: string },
  page: { after?: CreatedPosition; limit: number },
): Promise<Result<{ items: R[]; more: boolean }, "not_member" | DbError>> {
  const found = await attempt(() =>
    sql.query<{ member: boolean; items: R[]; more: boolean }>(SHARED_SQL[kind], [
      ids.tenantId,
      ids.userId,
      page.after?.created_at ?? null,
      page.after?.id ?? null,
      page.limit,
      SHARED_PAGE_BYTES,
    ]),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (!row?.member) return err("not_member");
  return ok({ items: row.items, more: row.more });
}
