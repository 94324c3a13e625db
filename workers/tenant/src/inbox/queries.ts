import { attempt, type DbError, type Queryable } from "../../../common/db";
import { type CreatedPosition, pageOf } from "../../../common/pages";
import type { Result } from "../../../common/result";

export interface InboxNotification {
  id: string;
  tenant_id: string;
  type: string;
  title: string;
  message: string;
  data: Record<string, unknown>;
  is_read: boolean;
  created_at: string;
}

export interface InboxOptions {
  tenantId?: string;
  unread?: boolean;
  after: CreatedPosition | undefined;
  limit: number;
}

/**
 * The user's notifications, newest first, keyset-paged on (created_at, id) along the inbox index
 * (user_id, created_at DESC). The plain `created_at <=` is what the index can seek on; the row
 * comparison, which breaks ties by id, only filters the few rows at that instant. Without it a
 * deep page would read every notification newer than it. One row past the page (LIMIT limit + 1)
 * says whether another follows. With `unread` true the statement, planned for its parameters as
 * the driver's unnamed statements are, reduces to `is_read = false` and walks the unread index.
 */
export const INBOX_SQL = `SELECT n.id, n.tenant_id, n.type, n.title, n.message, n.data, n.is_read,
       to_json(n.created_at) #>> '{}' AS created_at
  FROM public.notifications n
 WHERE n.user_id = $1
   AND ($2::uuid IS NULL OR n.tenant_id = $2)
   AND ($3::boolean IS NULL OR n.is_read = NOT $3)
   AND ($4::timestamptz IS NULL
        OR (n.created_at <= $4::timestamptz AND (n.created_at, n.id) < ($4::timestamptz, $5::uuid)))
 ORDER BY n.created_at DESC, n.id DESC
 LIMIT $6`;

export function inboxParams(userId: string, options: InboxOptions): unknown[] {
  return [
    userId,
    options.tenantId ?? null,
    options.unread ?? null,
    options.after?.created_at ?? null,
    options.after?.id ?? null,
    options.limit + 1,
  ];
}

export function readInbox(
  sql: Queryable,
  userId: string,
  options: InboxOptions,
): Promise<Result<{ notifications: InboxNotification[]; more: boolean }, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<InboxNotification>(INBOX_SQL, inboxParams(userId, options));
    const { rows: notifications, more } = pageOf(rows, options.limit);
    return { notifications, more };
  });
}

/** Past this many the count says "at least": a badge shows "999+", and no count reads more. */
export const UNREAD_COUNT_MAX = 999;

/**
 * `$1` the user's unread notifications (of the community `$2`, or every one): `is_read = false`
 * as idx_notifications_unread's predicate is written, so the planner matches it whatever it folds.
 */
const UNREAD = "user_id = $1 AND is_read = false AND ($2::uuid IS NULL OR tenant_id = $2)";

export const UNREAD_COUNT_SQL = `SELECT count(*)::int AS unread FROM (
  SELECT 1 FROM public.notifications WHERE ${UNREAD} LIMIT $3) unread`;

/**
 * How many of the user's notifications are unread (of one community, given `tenantId`), up to
 * UNREAD_COUNT_MAX, read from the unread index alone.
 */
export function countUnread(
  sql: Queryable,
  userId: string,
  tenantId: string | undefined,
): Promise<Result<{ unread: number; capped: boolean }, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<{ unread: number }>(UNREAD_COUNT_SQL, [
      userId,
      tenantId ?? null,
      UNREAD_COUNT_MAX + 1,
    ]);
    const unread = rows[0]?.unread ?? 0;
    return { unread: Math.min(unread, UNREAD_COUNT_MAX), capped: unread > UNREAD_COUNT_MAX };
  });
}

/** The most one "mark all read" marks: a statement of bounded time; `more` asks for another. */
export const MARK_ALL_MAX = 10_000;

export const MARK_ALL_SQL = `WITH picked AS (
  SELECT id FROM public.notifications WHERE ${UNREAD} LIMIT $3
), marked AS (
  UPDATE public.notifications n SET is_read = true
    FROM picked WHERE n.id = picked.id AND NOT n.is_read
  RETURNING 1)
SELECT count(*)::int AS marked FROM marked`;

/**
 * Marks every unread notification of the user's read (of one community, given `tenantId`), at
 * most MARK_ALL_MAX of them; how many, and whether it may have left some.
 */
export function markAllRead(
  sql: Queryable,
  userId: string,
  tenantId: string | undefined,
): Promise<Result<{ marked: number; more: boolean }, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<{ marked: number }>(MARK_ALL_SQL, [
      userId,
      tenantId ?? null,
      MARK_ALL_MAX,
    ]);
    const marked = rows[0]?.marked ?? 0;
    return { marked, more: marked === MARK_ALL_MAX };
  });
}

/** Marks the user's notifications among `ids` read; how many were unread until now. */
export function markRead(
  sql: Queryable,
  userId: string,
  ids: string[],
): Promise<Result<{ marked: number; more: boolean }, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<{ marked: number }>(
      `WITH marked AS (
         UPDATE public.notifications SET is_read = true
          WHERE user_id = $1 AND id = ANY($2::uuid[]) AND NOT is_read
         RETURNING 1)
       SELECT count(*)::int AS marked FROM marked`,
      [userId, ids],
    );
    return { marked: rows[0]?.marked ?? 0, more: false };
  });
}
