import { MODERATOR_ROLES } from "../../../common/authz";
import { attempt, type DbError, type Queryable } from "../../../common/db";
import type { CreatedPosition, SoonestFirstPosition } from "../../../common/pages";
import { err, ok, type Result } from "../../../common/result";
import { IS_MEMBER } from "../auth/membership";

/**
 * Members' journeys in one community, and their activities. A journey is its owner's: only they
 * change it, delete it or add to it. A public one is shown to the members of its community, a
 * private one to its owner alone, and to nobody outside the community either way: for anyone
 * else it does not exist (404), so a private journey's id tells nobody anything.
 *
 * Every statement checks the caller's membership itself (IS_MEMBER: `$1` tenant, `$2` user),
 * not the membership cache, as content does: a member removed a moment ago is refused at once.
 */

/** At most this many activities a journey: a journey is read whole, activities and all. */
export const MAX_ACTIVITIES = 500;

/** Times and dates as Postgres prints them in JSON (ISO, microseconds and offset), as the feed. */
const at = (alias: string, column: string) => `to_json(${alias}.${column}) #>> '{}' AS ${column}`;

/** A journey row `x` as a client is shown it. */
const JOURNEY = `x.id, x.tenant_id, x.user_id, x.title, x.description, x.status, x.locations,
  ${at("x", "start_date")}, ${at("x", "end_date")}, x.is_public, ${at("x", "created_at")}, ${at("x", "updated_at")}`;

/** An activity row `a` as a client is shown it. */
const ACTIVITY = `a.id, a.journey_id, a.activity_type, a.title, a.description, a.location,
  ${at("a", "start_datetime")}, ${at("a", "end_datetime")}, a.external_url,
  CASE WHEN a.content_reference_id IS NOT NULL
       THEN json_build_object('type', a.content_reference_type, 'id', a.content_reference_id) END AS content_reference,
  a.settings, ${at("a", "created_at")}`;

/**
 * The columns an owner writes: each one's type (a parameter first used in a SELECT list is taken
 * for text) and, for a column a new row may leave out, the value it then gets.
 */
interface Column {
  type: "text" | "jsonb" | "date" | "boolean" | "timestamptz" | "uuid";
  absent?: string;
}

const JOURNEY_COLUMNS: Record<string, Column> = {
  title: { type: "text" },
  description: { type: "text" },
  status: { type: "text", absent: "'planning'" },
  locations: { type: "jsonb", absent: "'[]'::jsonb" },
  start_date: { type: "date" },
  end_date: { type: "date" },
  is_public: { type: "boolean", absent: "false" },
};

const ACTIVITY_COLUMNS: Record<string, Column> = {
  activity_type: { type: "text" },
  title: { type: "text" },
  description: { type: "text" },
  location: { type: "jsonb" },
  start_datetime: { type: "timestamptz" },
  end_datetime: { type: "timestamptz" },
  external_url: { type: "text" },
  content_reference_type: { type: "text" },
  content_reference_id: { type: "uuid" },
  settings: { type: "jsonb", absent: "'{}'::jsonb" },
};

/** The values of `fields` for `columns`, in their order; JSON as its text, absent ones null. */
function valuesOf(columns: Record<string, Column>, fields: Record<string, unknown>): unknown[] {
  return Object.entries(columns).map(([name, { type }]) => {
    const value = fields[name] ?? null;
    return type === "jsonb" && value !== null ? JSON.stringify(value) : value;
  });
}

/** The parameters of a new row's columns, from `$first` on, each typed and defaulted. */
function insertedValues(columns: Record<string, Column>, first: number): string {
  return Object.values(columns)
    .map(({ type, absent }, i) => {
      const param = `$${first + i}::${type}`;
      return absent === undefined ? param : `coalesce(${param}, ${absent})`;
    })
    .join(", ");
}

/** A column's parameter in a statement whose columns' values start at `$first`. */
function paramOf(columns: Record<string, Column>, name: string, first: number): string {
  const { type } = columns[name] as Column;
  return `$${first + Object.keys(columns).indexOf(name)}::${type}`;
}

/** The columns `fields` names, and an UPDATE's SET of them, their values from `$first` on. */
function assignments(
  columns: Record<string, Column>,
  fields: Record<string, unknown>,
  first: number,
): { named: Record<string, Column>; set: string } {
  const named = Object.fromEntries(Object.entries(columns).filter(([name]) => name in fields));
  const set = Object.keys(named)
    .map((name) => `${name} = ${paramOf(named, name, first)}`)
    .join(", ");
  return { named, set };
}

/**
 * Why nothing was done: the caller is no member of an active community; the journey is not in
 * this community or not theirs to see (the same answer, so a private one is not revealed); it
 * is another member's; an activity is not in it; it holds MAX_ACTIVITIES already; the content an
 * activity names is no post or event of this community; the dates or times an edit leaves are out
 * of order (a journey's, an activity's).
 */
export type JourneyRefusal =
  | "not_member"
  | "no_such_journey"
  | "not_owner"
  | "no_such_activity"
  | "full"
  | "no_such_reference"
  | "end_before_start"
  | "activity_end_before_start";

/** What each statement tells of the journey it looked for, besides what it did. */
interface Judged {
  member: boolean;
  owner: string | null;
  is_public: boolean | null;
}

/** The refusal a statement's view of the journey gives, if any. */
function judge(row: Judged | undefined, userId: string): JourneyRefusal | null {
  if (!row?.member) return "not_member";
  if (row.owner === null || (row.owner !== userId && !row.is_public)) return "no_such_journey";
  return row.owner === userId ? null : "not_owner";
}

/** The refusal for reading: another member's public journey is theirs to read. */
function judgeReader(row: Judged | undefined, userId: string): JourneyRefusal | null {
  const refusal = judge(row, userId);
  return refusal === "not_owner" ? null : refusal;
}

/** The caller's membership (`member.yes`) and the journey `$3` of the community (`target`). */
const JUDGED = `member AS (SELECT ${IS_MEMBER} AS yes),
  target AS (SELECT x.* FROM public.user_journeys x WHERE x.id = $3::uuid AND x.tenant_id = $1::uuid)`;
const JUDGED_COLUMNS = "member.yes AS member, t.user_id AS owner, t.is_public";
const JUDGED_FROM = "member LEFT JOIN target t ON true";

/**
 * A new row's id, from the worker (timeOrderedId, or from an Idempotency-Key: the same for every
 * attempt of one request). A repeated request finds the row its first attempt made and answers
 * it again; one that overlaps the first attempt, still being written, finds nothing yet
 * (in_flight), since the statement's snapshot was taken before it waited on that row.
 */
export type Retried = "in_flight";

const CREATE_SQL = `WITH member AS (SELECT ${IS_MEMBER} AS yes), made AS (
    INSERT INTO public.user_journeys AS x (id, tenant_id, user_id, ${Object.keys(JOURNEY_COLUMNS).join(", ")})
    SELECT $3::uuid, $1, $2, ${insertedValues(JOURNEY_COLUMNS, 4)} FROM member WHERE member.yes
    ON CONFLICT (id) DO NOTHING
    RETURNING x.*
  )
  SELECT member.yes AS member, coalesce(
    (SELECT to_json(r) FROM (SELECT ${JOURNEY} FROM made x) r),
    (SELECT to_json(r) FROM (SELECT ${JOURNEY} FROM public.user_journeys x
                              WHERE x.id = $3::uuid AND x.tenant_id = $1::uuid AND x.user_id = $2::uuid) r)
  ) AS journey
  FROM member`;

/** A new journey of the caller in the community, or the one a first attempt made (Retried). */
export async function createJourney<R>(
  sql: Queryable,
  made: { tenantId: string; userId: string; id: string },
  fields: Record<string, unknown>,
): Promise<Result<R, "not_member" | Retried | DbError>> {
  const found = await attempt(() =>
    sql.query<{ member: boolean; journey: R | null }>(CREATE_SQL, [
      made.tenantId,
      made.userId,
      made.id,
      ...valuesOf(JOURNEY_COLUMNS, fields),
    ]),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (!row?.member) return err("not_member");
  return row.journey ? ok(row.journey) : err("in_flight");
}

/**
 * `$3`, `$4`: the last journey of the page before (created_at, id); the plain `created_at <=` is
 * what an index can seek on. `$8`, `$9`: days the journey's dates must meet (one without dates
 * meets none; one without an end lasts its first day); `$10`: the name of a place it goes to, a
 * containment the GIN index on locations can answer.
 */
const NARROWED = `($3::timestamptz IS NULL
       OR (x.created_at <= $3::timestamptz AND (x.created_at, x.id) < ($3::timestamptz, $4::uuid)))
  AND ($5::uuid IS NULL OR x.user_id = $5::uuid) AND ($6::text IS NULL OR x.status = $6::text)
  AND ($8::date IS NULL OR coalesce(x.end_date, x.start_date) >= $8::date)
  AND ($9::date IS NULL OR x.start_date <= $9::date)
  AND ($10::text IS NULL OR x.locations @> jsonb_build_array(jsonb_build_object('name', $10::text)))`;

/**
 * What the caller may see is the community's public journeys and their own private ones, each
 * walked newest first on its own index (idx_user_journeys_public; their own by user, a few to
 * sort) and the two merged. One walk of the community's journeys would read past every other
 * member's private one, and the planner took neither: it read the public journeys of every
 * community (the index was on is_public alone before 0041) and sorted them, a page costing the
 * whole platform's. In that order: the subquery's order is the order json_agg reads its rows in.
 */
const LIST_SQL = `SELECT m.yes AS member, (
    SELECT coalesce(json_agg(r), '[]'::json) FROM (
      SELECT ${JOURNEY} FROM (
        (SELECT x.* FROM public.user_journeys x
          WHERE m.yes AND x.tenant_id = $1::uuid AND x.is_public AND ${NARROWED}
          ORDER BY x.created_at DESC, x.id DESC LIMIT $7::int)
        UNION ALL
        (SELECT x.* FROM public.user_journeys x
          WHERE m.yes AND x.user_id = $2::uuid AND x.tenant_id = $1::uuid AND NOT x.is_public AND ${NARROWED}
          ORDER BY x.created_at DESC, x.id DESC LIMIT $7::int)
      ) x
      ORDER BY x.created_at DESC, x.id DESC LIMIT $7::int
    ) r
  ) AS journeys
  FROM (SELECT ${IS_MEMBER} AS yes) m`;

/** What a list of journeys is narrowed to: whose, in what status, when (days), where. */
export interface JourneyFilter {
  owner?: string;
  status?: string;
  from?: string;
  to?: string;
  place?: string;
}

/**
 * One page of the community's journeys the caller may see (their own, and the public ones),
 * newest first, after `after`, narrowed by `filter`.
 */
export async function listJourneys<R extends { id: string; created_at: string }>(
  sql: Queryable,
  tenantId: string,
  userId: string,
  page: { after?: CreatedPosition; limit: number; filter: JourneyFilter },
): Promise<Result<R[], "not_member" | DbError>> {
  const { after, limit, filter } = page;
  const { owner, status, from, to, place } = filter;
  const found = await attempt(() =>
    sql.query<{ member: boolean; journeys: R[] }>(LIST_SQL, [
      tenantId,
      userId,
      after?.created_at ?? null,
      after?.id ?? null,
      owner ?? null,
      status ?? null,
      limit,
      from ?? null,
      to ?? null,
      place ?? null,
    ]),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  return row?.member ? ok(row.journeys) : err("not_member");
}

/**
 * At most this many bytes of activities' text in one answer, the first always whole, as the
 * feed bounds its pages: at the largest rows validation lets in, a journey's 500 activities are
 * about 60 MB, past the 10 MiB Neon's SQL-over-HTTP answers, so such a journey could not be read.
 */
const ACTIVITY_PAGE_BYTES = 2 * 1024 * 1024;

/**
 * The page of activities of the journey `$3` after (`$4` start, `$5` id), in start order: at
 * most `$6` of them and ACTIVITY_PAGE_BYTES (`$7`) of their text, the first always. `more` says
 * whether any are left after it. Read only when the caller may see the journey (`visible`).
 */
const ACTIVITY_PAGE = `after_position AS (
    SELECT a.*, count(*) OVER () AS remaining,
           row_number() OVER (ORDER BY a.start_datetime, a.id) AS n,
           sum(octet_length(a.title) + octet_length(coalesce(a.description, '')) + octet_length(a.activity_type)
               + octet_length(coalesce(a.location::text, '')) + octet_length(a.settings::text)
               + octet_length(coalesce(a.external_url, ''))) OVER (ORDER BY a.start_datetime, a.id) AS bytes
      FROM public.journey_activities a
     WHERE a.journey_id = $3::uuid AND (SELECT yes FROM visible)
       AND ($4::timestamptz IS NULL OR (a.start_datetime, a.id) > ($4::timestamptz, $5::uuid))
  ), kept AS (
    SELECT * FROM after_position a WHERE a.n <= $6::int AND (a.n = 1 OR a.bytes <= $7::bigint)
  ), page AS (
    SELECT (SELECT coalesce(json_agg(r), '[]'::json) FROM (
              SELECT ${ACTIVITY} FROM kept a ORDER BY a.start_datetime, a.id) r) AS activities,
           (SELECT count(*) FROM kept) < coalesce((SELECT max(remaining) FROM after_position), 0) AS more
  )`;

/** Whether the caller may see the journey: a member, and it is theirs or public. */
const VISIBLE = `visible AS (
    SELECT member.yes AND EXISTS (SELECT 1 FROM target t WHERE t.user_id = $2::uuid OR t.is_public) AS yes FROM member
  )`;

const READ_SQL = `WITH ${JUDGED}, ${VISIBLE}, ${ACTIVITY_PAGE}
  SELECT ${JUDGED_COLUMNS}, (
    SELECT to_json(r) FROM (
      SELECT ${JOURNEY}, page.activities, page.more AS activities_more
      FROM target x CROSS JOIN page WHERE (SELECT yes FROM visible)
    ) r
  ) AS journey
  FROM ${JUDGED_FROM}`;

/** A page of a journey's activities, and whether more follow it. */
export interface ActivityPage<A> {
  activities: A[];
  more: boolean;
}

/**
 * A journey the caller may see, with its activities in start order, as many as fit
 * ACTIVITY_PAGE_BYTES (all of them, up to MAX_ACTIVITIES, but for the longest);
 * `activities_more` says whether more follow.
 */
export async function readJourney<R extends { activities_more: boolean }>(
  sql: Queryable,
  tenantId: string,
  userId: string,
  id: string,
): Promise<Result<R, JourneyRefusal | DbError>> {
  const params = [tenantId, userId, id, null, null, MAX_ACTIVITIES, ACTIVITY_PAGE_BYTES];
  const found = await attempt(() => sql.query<Judged & { journey: R | null }>(READ_SQL, params));
  if (!found.ok) return found;
  const [row] = found.value.rows;
  const refusal = judgeReader(row, userId);
  if (refusal !== null) return err(refusal);
  return row?.journey ? ok(row.journey) : err("no_such_journey");
}

const ACTIVITIES_SQL = `WITH ${JUDGED}, ${VISIBLE}, ${ACTIVITY_PAGE}
  SELECT ${JUDGED_COLUMNS}, page.activities, page.more FROM ${JUDGED_FROM} CROSS JOIN page`;

/** The activities of a journey the caller may see after `after` (start, id), a page at a time. */
export async function listActivities<A>(
  sql: Queryable,
  ids: { tenantId: string; userId: string; journeyId: string },
  page: { after?: SoonestFirstPosition; limit: number },
): Promise<Result<ActivityPage<A>, JourneyRefusal | DbError>> {
  const found = await attempt(() =>
    sql.query<Judged & ActivityPage<A>>(ACTIVITIES_SQL, [
      ids.tenantId,
      ids.userId,
      ids.journeyId,
      page.after?.start_date ?? null,
      page.after?.id ?? null,
      page.limit,
      ACTIVITY_PAGE_BYTES,
    ]),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  const refusal = judgeReader(row, ids.userId);
  if (refusal !== null) return err(refusal);
  return row ? ok({ activities: row.activities, more: row.more }) : err("no_such_journey");
}

/**
 * Changes the named fields of the caller's own journey, in one statement that decides and
 * writes. An edit leaving the journey ending before it starts (with a date it does not name)
 * breaks the table's check, and is end_before_start.
 *
 * One change of another member's journey is allowed: a moderator (or an admin: MODERATOR_ROLES)
 * may make a public journey private, and nothing else. That takes it out of the community's
 * view as a post is taken down, and leaves the owner their plan.
 */
export async function updateJourney<R>(
  sql: Queryable,
  tenantId: string,
  userId: string,
  id: string,
  fields: Record<string, unknown>,
): Promise<Result<R, JourneyRefusal | DbError>> {
  const { named, set } = assignments(JOURNEY_COLUMNS, fields, 4);
  const values = valuesOf(named, fields);
  const unpublishing = Object.keys(fields).length === 1 && fields.is_public === false;
  const roles = `$${4 + values.length}::text[]`;
  const allowed = unpublishing
    ? `(t.user_id = $2::uuid OR (t.is_public AND EXISTS (
         SELECT 1 FROM public.tenant_users m
          WHERE m.tenant_id = $1::uuid AND m.user_id = $2::uuid AND (m.is_admin OR m.role = ANY (${roles})))))`
    : "t.user_id = $2::uuid";
  const text = `WITH ${JUDGED}, changed AS (
      UPDATE public.user_journeys x SET ${set}
        FROM member, target t WHERE member.yes AND x.id = t.id AND ${allowed}
      RETURNING x.*
    )
    SELECT ${JUDGED_COLUMNS}, (SELECT to_json(r) FROM (SELECT ${JOURNEY} FROM changed x) r) AS journey
      FROM ${JUDGED_FROM}`;
  const params = [tenantId, userId, id, ...values, ...(unpublishing ? [MODERATOR_ROLES] : [])];
  const found = await attempt(() => sql.query<Judged & { journey: R | null }>(text, params));
  if (!found.ok) {
    return found.error.code === "23514" && found.error.constraint === "user_journeys_dates"
      ? err("end_before_start")
      : found;
  }
  const [row] = found.value.rows;
  const refusal = judge(row, userId);
  // Changed, though another's: a moderator made it private.
  if (refusal === "not_owner" && row?.journey) return ok(row.journey);
  if (refusal !== null) return err(refusal);
  // Theirs, yet unchanged: deleted while this waited for it.
  return row?.journey ? ok(row.journey) : err("no_such_journey");
}

const DELETE_SQL = `WITH ${JUDGED}, gone AS (
    DELETE FROM public.user_journeys x USING member, target t
     WHERE member.yes AND x.id = t.id AND t.user_id = $2::uuid
    RETURNING x.id
  )
  SELECT ${JUDGED_COLUMNS}, EXISTS (SELECT 1 FROM gone) AS done FROM ${JUDGED_FROM}`;

/**
 * Runs a deletion of something of the caller's own (DELETE_SQL, DELETE_ACTIVITY_SQL: `$2` the
 * caller) and names why nothing went: a refusal, or `missing` when it was theirs but not there.
 */
async function deleteOwned(
  sql: Queryable,
  text: string,
  params: unknown[],
  missing: "no_such_journey" | "no_such_activity",
): Promise<Result<null, JourneyRefusal | DbError>> {
  const found = await attempt(() => sql.query<Judged & { done: boolean }>(text, params));
  if (!found.ok) return found;
  const [row] = found.value.rows;
  const refusal = judge(row, params[1] as string);
  if (refusal !== null) return err(refusal);
  return row?.done ? ok(null) : err(missing);
}

/** Deletes the caller's own journey, its activities with it. */
export function deleteJourney(
  sql: Queryable,
  tenantId: string,
  userId: string,
  id: string,
): Promise<Result<null, JourneyRefusal | DbError>> {
  return deleteOwned(sql, DELETE_SQL, [tenantId, userId, id], "no_such_journey");
}

/**
 * `reference.ok`: the content an activity names (its type and id in the parameters `type` and
 * `id`) is a live post or event of the community `$1`, or it names none.
 */
function referenceCheck(type: string, id: string): string {
  return `reference AS (
    SELECT CASE WHEN ${id} IS NULL THEN true
                WHEN ${type} = 'posts' THEN EXISTS (
                  SELECT 1 FROM public.posts p WHERE p.id = ${id} AND p.tenant_id = $1::uuid AND p.deleted_at IS NULL)
                ELSE EXISTS (
                  SELECT 1 FROM public.events e WHERE e.id = ${id} AND e.tenant_id = $1::uuid AND e.deleted_at IS NULL)
           END AS ok
  )`;
}

/**
 * `$4`… the activity's columns, then its id (ACTIVITY_ID). The count is as of the statement's
 * snapshot, so two additions at once may both pass at MAX_ACTIVITIES - 1: a bound on a journey's
 * size, not an exact quota.
 */
const ACTIVITY_ID = 4 + Object.keys(ACTIVITY_COLUMNS).length;
const ADD_ACTIVITY_SQL = `WITH ${JUDGED},
  counted AS (SELECT count(*) AS n FROM public.journey_activities c WHERE c.journey_id = $3::uuid),
  ${referenceCheck(paramOf(ACTIVITY_COLUMNS, "content_reference_type", 4), paramOf(ACTIVITY_COLUMNS, "content_reference_id", 4))},
  made AS (
    INSERT INTO public.journey_activities AS a (id, journey_id, tenant_id, ${Object.keys(ACTIVITY_COLUMNS).join(", ")})
    SELECT $${ACTIVITY_ID}::uuid, t.id, t.tenant_id, ${insertedValues(ACTIVITY_COLUMNS, 4)}
      FROM member, target t, counted, reference
     WHERE member.yes AND t.user_id = $2::uuid AND counted.n < ${MAX_ACTIVITIES} AND reference.ok
       AND NOT EXISTS (SELECT 1 FROM public.journey_activities d WHERE d.id = $${ACTIVITY_ID}::uuid)
    ON CONFLICT (id, start_datetime) DO NOTHING
    RETURNING a.*
  )
  SELECT ${JUDGED_COLUMNS}, counted.n >= ${MAX_ACTIVITIES} AS full, reference.ok AS reference_ok, coalesce(
           (SELECT to_json(r) FROM (SELECT ${ACTIVITY} FROM made a) r),
           (SELECT to_json(r) FROM (SELECT ${ACTIVITY} FROM public.journey_activities a
                                     WHERE a.id = $${ACTIVITY_ID}::uuid AND a.journey_id = $3::uuid) r)
         ) AS activity
    FROM ${JUDGED_FROM} CROSS JOIN counted CROSS JOIN reference`;

/** The API's fields of an activity as its columns: `content_reference` is kept in two. */
type ActivityFields = Record<string, unknown> & { content_reference?: { type: string; id: string } | null };

function activityColumns(fields: ActivityFields): Record<string, unknown> {
  if (!("content_reference" in fields)) return fields;
  const { content_reference: reference, ...rest } = fields;
  return {
    ...rest,
    content_reference_type: reference?.type ?? null,
    content_reference_id: reference?.id ?? null,
  };
}

/**
 * Adds an activity (its id `made.id`, as a journey's) to the caller's own journey;
 * `content_reference` names a post or an event of the community it is about (kept in two
 * columns). A repeated request answers the activity its first attempt made, as it now is.
 *
 * The key (id, start_datetime) is unique per partition only, so ON CONFLICT alone would not see
 * a first attempt whose start was changed since (the row moved): the retry, same id and the old
 * start, would be a second row with that id, and every later change of it would meet two. The
 * NOT EXISTS looks for the id in every partition; two first attempts at once carry the same body,
 * so the same start, and the key catches the second.
 */
export async function addActivity<R>(
  sql: Queryable,
  made: { tenantId: string; userId: string; id: string },
  journeyId: string,
  fields: ActivityFields,
): Promise<Result<R, JourneyRefusal | Retried | DbError>> {
  const columns = activityColumns(fields);
  const found = await attempt(() =>
    sql.query<Judged & { full: boolean; reference_ok: boolean; activity: R | null }>(ADD_ACTIVITY_SQL, [
      made.tenantId,
      made.userId,
      journeyId,
      ...valuesOf(ACTIVITY_COLUMNS, columns),
      made.id,
    ]),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  const refusal = judge(row, made.userId);
  if (refusal !== null) return err(refusal);
  // A repeat finds its activity though the journey has filled since.
  if (row?.activity) return ok(row.activity);
  if (row?.full) return err("full");
  if (!row?.reference_ok) return err("no_such_reference");
  return err("in_flight");
}

/**
 * Changes the named fields of an activity of the caller's own journey, in one statement that
 * decides and writes (a new start moves the row to its month's partition). An edit leaving it
 * ending before it starts breaks the table's check: activity_end_before_start.
 */
export async function updateActivity<R>(
  sql: Queryable,
  ids: { tenantId: string; userId: string; journeyId: string; activityId: string },
  fields: ActivityFields,
): Promise<Result<R, JourneyRefusal | DbError>> {
  const columns = activityColumns(fields);
  const { named, set } = assignments(ACTIVITY_COLUMNS, columns, 5);
  const reference =
    "content_reference_id" in named
      ? referenceCheck(paramOf(named, "content_reference_type", 5), paramOf(named, "content_reference_id", 5))
      : "reference AS (SELECT true AS ok)";
  const text = `WITH ${JUDGED}, ${reference}, changed AS (
      UPDATE public.journey_activities a SET ${set}
        FROM member, target t, reference
       WHERE member.yes AND t.user_id = $2::uuid AND a.journey_id = t.id AND a.id = $4::uuid AND reference.ok
      RETURNING a.*
    )
    SELECT ${JUDGED_COLUMNS}, reference.ok AS reference_ok,
           (SELECT to_json(r) FROM (SELECT ${ACTIVITY} FROM changed a) r) AS activity
      FROM ${JUDGED_FROM} CROSS JOIN reference`;
  const { tenantId, userId, journeyId, activityId } = ids;
  const found = await attempt(() =>
    sql.query<Judged & { reference_ok: boolean; activity: R | null }>(text, [
      tenantId,
      userId,
      journeyId,
      activityId,
      ...valuesOf(named, columns),
    ]),
  );
  if (!found.ok) {
    return found.error.code === "23514" && found.error.constraint === "journey_activities_end_after_start"
      ? err("activity_end_before_start")
      : found;
  }
  const [row] = found.value.rows;
  const refusal = judge(row, userId);
  if (refusal !== null) return err(refusal);
  if (!row?.reference_ok) return err("no_such_reference");
  return row.activity ? ok(row.activity) : err("no_such_activity");
}

const DELETE_ACTIVITY_SQL = `WITH ${JUDGED}, gone AS (
    DELETE FROM public.journey_activities a USING member, target t
     WHERE member.yes AND t.user_id = $2::uuid AND a.journey_id = t.id AND a.id = $4::uuid
    RETURNING a.id
  )
  SELECT ${JUDGED_COLUMNS}, EXISTS (SELECT 1 FROM gone) AS done FROM ${JUDGED_FROM}`;

/** Deletes one activity of the caller's own journey. */
export function deleteActivity(
  sql: Queryable,
  tenantId: string,
  userId: string,
  journeyId: string,
  activityId: string,
): Promise<Result<null, JourneyRefusal | DbError>> {
  return deleteOwned(sql, DELETE_ACTIVITY_SQL, [tenantId, userId, journeyId, activityId], "no_such_activity");
}
