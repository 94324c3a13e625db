import { authorizeContentDeletion, type Denial, MODERATOR_ROLES } from "../../../common/authz";
import { attempt, type DbError, type Queryable } from "../../../common/db";
import { err, ok, type Result } from "../../../common/result";
import { removalAudit } from "../audit/queries";
import { IS_MEMBER } from "../auth/membership";
import { likedBy } from "../likes/sql";

export type ContentKind = "posts" | "events";

/**
 * Why nothing was made: the author is not a member of an active community, or a request with
 * the same Idempotency-Key (so the same id) is being written at this moment.
 */
export type CreateRefusal = "not_member" | "in_flight";

/**
 * Times as Postgres prints them in JSON (microseconds, offset), as the feed gives them: a
 * client's next edit or cursor keeps every digit.
 */
const at = (column: string) => `to_json(x.${column}) #>> '{}' AS ${column}`;

/**
 * Each kind's author column, the columns its author writes (typed, as the statements pass
 * them), what a client is shown of a row `x` besides its id, tenant id and tenant name, and the
 * bytes of text a row `x` adds to a page, as the feed counts them (db/migrations/0024). What a
 * post shows reads `$2` as the caller: every statement that shows content passes them there.
 */
const KINDS = {
  posts: {
    author: "user_id",
    written: { content: "text" },
    shown: `x.user_id, x.content, ${at("created_at")}, x.total_likes AS likes, x.total_comments AS comments, ${likedBy("x.id", "$2")}`,
    bytes: "octet_length(x.content)",
  },
  events: {
    author: "created_by",
    written: {
      title: "text",
      description: "text",
      start_date: "timestamptz",
      end_date: "timestamptz",
      location_name: "text",
      image_url: "text",
    },
    shown: `x.created_by, x.title, x.description, ${at("start_date")}, ${at("end_date")}, x.location_name, x.image_url, ${at("created_at")}`,
    bytes: `octet_length(x.title) + coalesce(octet_length(x.description), 0)
            + coalesce(octet_length(x.location_name), 0) + coalesce(octet_length(x.image_url), 0)`,
  },
} as const satisfies Record<
  ContentKind,
  { author: string; written: Record<string, "text" | "timestamptz">; shown: string; bytes: string }
>;

/**
 * One statement: the membership check, the insert and, for a repeated request (an id already
 * taken, which only an Idempotency-Key makes), the row the first one made. The check is in the
 * statement, not read from the membership cache first: a member removed a moment ago must not
 * post, and the insert is a round trip anyway. `$1` tenant, `$2` user, `$3` id, `$4` time; the
 * insert's own columns follow. A repeated request answers the row even if deleted since: it is
 * what the first one made, and no answer would have the client retry for good.
 */
function createStatement(kind: ContentKind): string {
  const { author, written, shown } = KINDS[kind];
  // Typed here: a parameter a SELECT list is the first to use would be taken for text.
  const names = Object.keys(written);
  const values = Object.values(written).map((type, i) => `$${i + 5}::${type}`);
  return `WITH member AS (
    SELECT t.name FROM public.tenants t WHERE t.id = $1::uuid AND ${IS_MEMBER}
  ), made AS (
    INSERT INTO public.${kind} AS x (id, tenant_id, ${author}, created_at, updated_at, ${names.join(", ")})
    SELECT $3::uuid, $1, $2, $4::timestamptz, $4::timestamptz - interval '1 microsecond', ${values.join(", ")}
      FROM member
    ON CONFLICT (id) DO NOTHING
    RETURNING x.*
  )
  SELECT x.id, x.tenant_id, m.name AS tenant_name, ${shown} FROM made x CROSS JOIN member m
  UNION ALL
  SELECT x.id, x.tenant_id, m.name, ${shown} FROM public.${kind} x CROSS JOIN member m
   WHERE x.id = $3 AND x.tenant_id = $1 AND x.${author} = $2 AND NOT EXISTS (SELECT 1 FROM made)`;
}

/**
 * A kind's columns for statements of other modules over its rows `x`: the author's, what a
 * client is shown after the id, tenant id and tenant name, and a row's bytes of text.
 */
export function contentColumns(kind: ContentKind): { author: string; shown: string; bytes: string } {
  const { author, shown, bytes } = KINDS[kind];
  return { author, shown, bytes };
}

const CREATE_SQL: Record<ContentKind, string> = {
  posts: createStatement("posts"),
  events: createStatement("events"),
};

interface Made {
  tenantId: string;
  userId: string;
  id: string;
  /**
   * The creation time, as the worker's clock has it (an ISO time in ms). A queued edit applies
   * only if its enqueue time, also a worker's, is newer than the row's updated_at: the database's
   * clock, a little ahead, would have dropped an edit sent right after. updated_at is one
   * microsecond earlier, because an edit enqueued in the same millisecond (a worker's clock
   * stands still within a request) is stamped with it plus its index in microseconds (jobTime).
   */
  at: string;
}

/**
 * Makes a post or an event of `fields` (validated by the route: PostFields, EventFields), and
 * answers it as a client is shown it (the route's schema, R).
 */
export async function createContent<R>(
  sql: Queryable,
  kind: ContentKind,
  made: Made,
  fields: Record<string, unknown>,
): Promise<Result<R, CreateRefusal | DbError>> {
  const values = Object.keys(KINDS[kind].written).map((name) => fields[name] ?? null);
  const found = await attempt(() =>
    sql.query<R>(CREATE_SQL[kind], [made.tenantId, made.userId, made.id, made.at, ...values]),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (row) return ok(row);
  // No row: either no membership, or the same id is being inserted by a concurrent request and
  // this statement's snapshot, taken before it waited for it, cannot see it.
  const member = await attempt(() =>
    sql.query<{ member: boolean }>(`SELECT ${IS_MEMBER} AS member`, [made.tenantId, made.userId]),
  );
  if (!member.ok) return member;
  return err(member.value.rows[0]?.member ? "in_flight" : "not_member");
}

/**
 * An event deleted (`gone`) is cancelled: each member who answered it and is still a member is
 * told so (`event_cancelled`), as an edit of its time or place tells them (db/migrations/0034,
 * whose mute rule this reads), in the statement that deletes it. Not the member deleting it,
 * and not once it is over. A deletion happens once, so the notices' job id is made here, once
 * (a CTE's row, where a subquery's volatile call could run again for each row it joined).
 */
const CANCELLED = `notice AS MATERIALIZED (SELECT gen_random_uuid() AS id), told AS (
    INSERT INTO public.notifications (job_id, user_id, tenant_id, type, title, message, data)
    SELECT j.id, a.user_id, g.tenant_id, 'event_cancelled', g.title, 'The event you answered is cancelled',
           jsonb_build_object('event_id', g.id, 'start_date', g.start_date, 'end_date', g.end_date,
                              'location_name', g.location_name)
      FROM gone g CROSS JOIN notice j
      JOIN public.event_attendees a ON a.event_id = g.id
      JOIN public.tenant_users tu ON tu.tenant_id = g.tenant_id AND tu.user_id = a.user_id
     WHERE a.user_id <> $2 AND coalesce(g.end_date, g.start_date) >= now()
       AND NOT private.notification_muted(tu.notification_preferences, 'event_cancelled')
  )`;

/**
 * Soft-deletes a post or an event (deleted_at; the feed and edits skip it) if the user may: its
 * author, an admin of the community or a moderator (authorizeContentDeletion). One statement
 * decides and writes, and returns what it saw so the refusal can be named (by that function,
 * with MODERATOR_ROLES passed in, so the rule is written once). Two deletions at once: the
 * second finds the row gone when it gets the lock, and answers no_such_content.
 */
export async function deleteContent(
  sql: Queryable,
  kind: ContentKind,
  tenantId: string,
  userId: string,
  id: string,
  requestId: string,
): Promise<Result<null, Denial | DbError>> {
  const { author } = KINDS[kind];
  const audited = removalAudit(kind === "posts" ? "post.removed" : "event.removed", {
    authorColumn: author,
    actor: "$2::uuid",
    request: "$5::text",
  });
  const found = await attempt(() =>
    sql.query<{
      role: string | null;
      is_admin: boolean | null;
      tenant_id: string | null;
      author: string | null;
      deleted: boolean;
    }>(
      `WITH actor AS (
         SELECT tu.role, tu.is_admin FROM public.tenant_users tu
           JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
          WHERE tu.tenant_id = $1 AND tu.user_id = $2
       ), target AS (
         SELECT x.id, x.tenant_id, x.${author} AS author FROM public.${kind} x
          WHERE x.id = $3 AND x.tenant_id = $1 AND x.deleted_at IS NULL
       ), gone AS (
         UPDATE public.${kind} x SET deleted_at = now()
           FROM actor, target
          WHERE x.id = target.id AND x.deleted_at IS NULL
            AND (target.author = $2 OR actor.is_admin OR actor.role = ANY($4::text[]))
         RETURNING x.*
       ), ${audited}${kind === "events" ? `, ${CANCELLED}` : ""}
       SELECT a.role, a.is_admin, t.tenant_id, t.author, EXISTS (SELECT 1 FROM gone) AS deleted
         FROM (SELECT 1) one LEFT JOIN actor a ON true LEFT JOIN target t ON true`,
      [tenantId, userId, id, MODERATOR_ROLES, requestId],
    ),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (row?.deleted) return ok(null);
  const actor = row?.role != null ? { role: row.role, is_admin: row.is_admin === true } : null;
  const content = row?.tenant_id != null ? { tenant_id: row.tenant_id, author: row.author } : undefined;
  // Allowed but not deleted: another deletion got there first.
  return err(authorizeContentDeletion(userId, actor, content, tenantId) ?? "no_such_content");
}

/**
 * One post or event of the community, to one of its members: not_member for anyone else,
 * whether or not it exists (so a stranger learns nothing of it), no_such_content for one not
 * there or deleted. The membership is checked in the statement, as a post's is.
 */
export async function readContent<R>(
  sql: Queryable,
  kind: ContentKind,
  tenantId: string,
  userId: string,
  id: string,
): Promise<Result<R, "not_member" | "no_such_content" | DbError>> {
  const found = await attempt(() =>
    sql.query<{ member: boolean; item: R | null }>(
      `SELECT m.member, (SELECT to_json(r) FROM (
                SELECT x.id, x.tenant_id, t.name AS tenant_name, ${KINDS[kind].shown}
                  FROM public.${kind} x JOIN public.tenants t ON t.id = x.tenant_id
                 WHERE m.member AND x.id = $3::uuid AND x.tenant_id = $1 AND x.deleted_at IS NULL) r) AS item
         FROM (SELECT ${IS_MEMBER} AS member) m`,
      [tenantId, userId, id],
    ),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (!row?.member) return err("not_member");
  return row.item ? ok(row.item) : err("no_such_content");
}
