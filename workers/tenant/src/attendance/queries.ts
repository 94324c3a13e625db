import type { AttendanceStatus } from "../../../../db/schema/event-attendees";
import { attempt, type DbError, type Queryable } from "../../../common/db";
import type { SoonestFirstPosition } from "../../../common/pages";
import { err, ok, type Result } from "../../../common/result";
import {
  JUDGED_COLUMNS,
  JUDGED_FROM,
  type OfMemberRefusal,
  ofMember,
  onOfMember,
} from "../content/of-member";
import { contentColumns } from "../content/queries";

/**
 * Members' answers to the events of their community (event_attendees). Every statement checks
 * the caller's membership itself and reads the event `$3` only in the resolved community and only
 * while it is not deleted (ofMember, as likes and comments read their post). Answers are
 * shown and counted for current members alone: one who left the community leaves its lists
 * with their answers, as their posts leave its feed.
 */

/**
 * Why nothing was done: the caller is no member of an active community; the event is not in it
 * (or deleted); the event is over, and takes no answers.
 */
export type AttendanceRefusal = OfMemberRefusal | "event_over";

/** The caller's membership (`member.yes`) and the live event `$3` of the community (`target`): ofMember. */
const JUDGED = ofMember("events", "coalesce(x.end_date, x.start_date) < now() AS over");

/** One member's answer, as a client is shown it. */
export interface Attendance {
  event_id: string;
  user_id: string;
  status: AttendanceStatus;
  responded_at: string;
}

/** `a`: an event_attendees row. responded_at: when the answer last changed, as the feed prints times. */
const SHOWN = `a.event_id, a.user_id, a.status, to_json(a.updated_at) #>> '{}' AS responded_at`;

/**
 * The answer replaces the caller's last; saying the same again keeps the time it was first said,
 * so a client's retry does not change when the member answered.
 */
const ANSWER_SQL = `WITH ${JUDGED}, answered AS (
    INSERT INTO public.event_attendees AS a (event_id, user_id, status)
    SELECT t.id, $2::uuid, $4::text FROM target t WHERE NOT t.over
    ON CONFLICT (event_id, user_id) DO UPDATE
      SET status = excluded.status,
          updated_at = CASE WHEN a.status = excluded.status THEN a.updated_at ELSE clock_timestamp() END
    RETURNING a.*
  )
  SELECT ${JUDGED_COLUMNS}, t.over, (SELECT to_json(r) FROM (SELECT ${SHOWN} FROM answered a) r) AS attendance
    FROM ${JUDGED_FROM}`;

/** The caller answers an event of the community: going, or interested. */
export async function answerEvent(
  sql: Queryable,
  tenantId: string,
  userId: string,
  eventId: string,
  status: AttendanceStatus,
): Promise<Result<Attendance, AttendanceRefusal | DbError>> {
  const found = await onOfMember<{ over: boolean; attendance: Attendance | null }>(
    sql,
    ANSWER_SQL,
    tenantId,
    userId,
    eventId,
    status,
  );
  if (!found.ok) return found;
  if (found.value.over) return err("event_over");
  return found.value.attendance ? ok(found.value.attendance) : err("no_such_content");
}

/** A data-modifying CTE runs whole whether or not the query reads it. */
const WITHDRAW_SQL = `WITH ${JUDGED}, gone AS (
    DELETE FROM public.event_attendees a USING target t
     WHERE a.event_id = t.id AND a.user_id = $2::uuid
    RETURNING a.event_id
  )
  SELECT ${JUDGED_COLUMNS} FROM ${JUDGED_FROM}`;

/**
 * The caller takes their answer back, whether or not they gave one (the outcome a client wants
 * is the same), and also once the event is over: it is theirs to withdraw.
 */
export async function withdrawAnswer(
  sql: Queryable,
  tenantId: string,
  userId: string,
  eventId: string,
): Promise<Result<null, AttendanceRefusal | DbError>> {
  const found = await onOfMember(sql, WITHDRAW_SQL, tenantId, userId, eventId);
  return found.ok ? ok(null) : found;
}

/** The answers to an event: how many of each, the caller's own, and one page of the members'. */
export interface Attendees {
  going: number;
  interested: number;
  mine: AttendanceStatus | null;
  attendees: (Attendance & { display_name: string | null })[];
}

/** The answer `a` is a current member's of the community `$1`: who the counts and lists show. */
const STILL_MEMBER =
  "EXISTS (SELECT 1 FROM public.tenant_users tu WHERE tu.tenant_id = $1::uuid AND tu.user_id = a.user_id)";

/**
 * `$4` the last user id of the page before, `$5` one status or null, `$6` the page's size. The
 * counts and the page count current members only (STILL_MEMBER, a lookup an answer). The counts
 * read every answer to the event, but only the answer and the membership; the page walks the
 * answers in user order from its cursor (the primary key, event then user), so the names and the
 * JSON are made for its own rows alone. Read apart, they still see one snapshot. `mine` needs no
 * lookup: `target` is empty for anyone not a member.
 */
export const ATTENDEES_SQL = `WITH ${JUDGED}, counted AS (
    SELECT count(*) FILTER (WHERE a.status = 'going')::int AS going,
           count(*) FILTER (WHERE a.status = 'interested')::int AS interested
      FROM target t JOIN public.event_attendees a ON a.event_id = t.id
     WHERE ${STILL_MEMBER}
  )
  SELECT ${JUDGED_COLUMNS}, c.going, c.interested,
         (SELECT a.status FROM public.event_attendees a WHERE a.event_id = t.id AND a.user_id = $2::uuid) AS mine,
         (SELECT coalesce(json_agg(r), '[]'::json) FROM (
            SELECT ${SHOWN}, u.display_name FROM public.event_attendees a
              JOIN public.users u ON u.id = a.user_id
             WHERE a.event_id = t.id AND ${STILL_MEMBER} AND ($4::uuid IS NULL OR a.user_id > $4::uuid)
               AND ($5::text IS NULL OR a.status = $5::text)
             ORDER BY a.user_id LIMIT $6::int
          ) r) AS attendees
    FROM ${JUDGED_FROM} LEFT JOIN counted c ON true`;

export async function listAttendees(
  sql: Queryable,
  tenantId: string,
  userId: string,
  eventId: string,
  page: { after?: string; status?: AttendanceStatus; limit: number },
): Promise<Result<Attendees, AttendanceRefusal | DbError>> {
  const found = await onOfMember<Attendees>(
    sql,
    ATTENDEES_SQL,
    tenantId,
    userId,
    eventId,
    page.after ?? null,
    page.status ?? null,
    page.limit,
  );
  if (!found.ok) return found;
  const { going, interested, mine, attendees } = found.value;
  return ok({ going, interested, mine, attendees });
}

/** An event the caller answered, as a client is shown an event, with their answer. */
export interface AnsweredEvent {
  id: string;
  start_date: string;
  attendance: AttendanceStatus;
}

/**
 * `$2`, `$3`: the last event of the page before (start_date, id); `$4` one answer or null.
 * From the caller's answers (idx_event_attendees_by_user), so a page costs what they answered,
 * not what their communities hold: events not over, in active communities they are still
 * members of.
 */
const MY_EVENTS_SQL = `SELECT x.id, x.tenant_id, t.name AS tenant_name, ${contentColumns("events").shown}, a.status AS attendance
    FROM public.event_attendees a
    JOIN public.events x ON x.id = a.event_id AND x.deleted_at IS NULL
    JOIN public.tenants t ON t.id = x.tenant_id AND t.is_active
    JOIN public.tenant_users tu ON tu.tenant_id = x.tenant_id AND tu.user_id = a.user_id
   WHERE a.user_id = $1::uuid AND coalesce(x.end_date, x.start_date) >= now()
     AND ($2::timestamptz IS NULL OR (x.start_date, x.id) > ($2::timestamptz, $3::uuid))
     AND ($4::text IS NULL OR a.status = $4::text)
   ORDER BY x.start_date, x.id
   LIMIT $5::int`;

/** One page of the events the caller answered that are not over yet, soonest first. */
export async function listMyEvents<R extends AnsweredEvent>(
  sql: Queryable,
  userId: string,
  page: { after?: SoonestFirstPosition; status?: AttendanceStatus; limit: number },
): Promise<Result<R[], DbError>> {
  const { after, status, limit } = page;
  const found = await attempt(() =>
    sql.query<R>(MY_EVENTS_SQL, [
      userId,
      after?.start_date ?? null,
      after?.id ?? null,
      status ?? null,
      limit,
    ]),
  );
  return found.ok ? ok(found.value.rows) : found;
}
