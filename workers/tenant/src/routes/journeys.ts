import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { JOURNEY_STATUSES } from "../../../../db/schema/user-journeys";
import type { DbError } from "../../../common/db";
import type { ApiError } from "../../../common/errors";
import {
  createdAfter,
  DENIALS,
  type Refusals,
  refusalError,
  soonestFirstAfter,
  validationHook,
} from "../../../common/http";
import { Id } from "../../../common/ids";
import { boundedJsonObject, endNotBefore, NAMES_A_FIELD, WebUrl } from "../../../common/jobs";
import { wholeNumberParam } from "../../../common/numbers";
import { errorResponses, jsonResponse, USER_SECURITY } from "../../../common/openapi";
import { createdCursor, pageOf, soonestFirstCursor } from "../../../common/pages";
import { rateLimit } from "../../../common/rate-limit";
import { PgTime, PrintedTime } from "../../../common/time";
import type { HonoEnv } from "../env";
import { IdempotencyHeader, inFlightError, newRow } from "../jobs/idempotency";
import {
  addActivity,
  createJourney,
  deleteActivity,
  deleteJourney,
  type JourneyRefusal,
  listActivities,
  listJourneys,
  MAX_ACTIVITIES,
  type Retried,
  readJourney,
  updateActivity,
  updateJourney,
} from "../journeys/queries";
import { currentUser, requireUser } from "../middleware/auth";
import { getSql, timed } from "../middleware/request";
import { TENANT_PARAMETERS } from "../middleware/tenant";

/**
 * Members plan journeys in their community: a journey (dates, places, a status) and its
 * activities. Only its owner changes it; a public one is shown to the community's members, a
 * private one to its owner alone (journeys/queries.ts).
 */

/** A calendar day, as the journey's date columns hold one. */
const Day = z.iso
  .date()
  .refine((v) => !v.startsWith("0000"), "there is no year 0000 (the year before 0001 is 1 BC)")
  .describe("YYYY-MM-DD");

/** A place, as the client describes it (name, coordinates, an address…): Postgres keeps it as JSON. */
const Place = boundedJsonObject(4096);

const journeyFields = z.object({
  title: z.string().trim().min(1).max(200),
  description: z.string().max(20_000).nullable(),
  status: z.enum(JOURNEY_STATUSES),
  locations: z.array(Place).max(100).describe("the places it goes, in order"),
  start_date: Day.nullable(),
  end_date: Day.nullable(),
  is_public: z.boolean().describe("shown to the community's members; otherwise to its owner alone"),
});

const NewJourney = journeyFields
  .partial({
    description: true,
    status: true,
    locations: true,
    start_date: true,
    end_date: true,
    is_public: true,
  })
  .strict()
  .refine(...endNotBefore("start_date", "end_date"))
  .openapi("NewJourney");

const JourneyChanges = journeyFields
  .partial()
  .strict()
  .refine(...NAMES_A_FIELD)
  .refine(...endNotBefore("start_date", "end_date"))
  .openapi("JourneyChanges");

const ContentReference = z
  .object({ type: z.enum(["posts", "events"]), id: Id })
  .strict()
  .describe("a post or an event of this community the activity is about")
  .openapi("ContentReference");

const activityFields = z.object({
  activity_type: z.string().trim().min(1).max(64).describe("what it is: flight, stay, visit, meetup…"),
  title: z.string().trim().min(1).max(200),
  description: z.string().max(20_000).nullable(),
  location: Place.nullable(),
  start_datetime: PgTime,
  end_datetime: PgTime.nullable(),
  external_url: WebUrl.nullable(),
  content_reference: ContentReference.nullable(),
  settings: boundedJsonObject(4096),
});

const NewActivity = activityFields
  .partial({
    description: true,
    location: true,
    end_datetime: true,
    external_url: true,
    content_reference: true,
    settings: true,
  })
  .strict()
  .refine(...endNotBefore("start_datetime", "end_datetime"))
  .openapi("NewActivity");

const ActivityChanges = activityFields
  .partial()
  .strict()
  .refine(...NAMES_A_FIELD)
  .refine(...endNotBefore("start_datetime", "end_datetime"))
  .openapi("ActivityChanges");

const Activity = z
  .object({
    id: z.guid(),
    journey_id: z.guid(),
    activity_type: z.string(),
    title: z.string(),
    description: z.string().nullable(),
    location: z.record(z.string(), z.unknown()).nullable(),
    start_datetime: PrintedTime,
    end_datetime: PrintedTime.nullable(),
    external_url: z.string().nullable(),
    content_reference: ContentReference.nullable(),
    settings: z.record(z.string(), z.unknown()),
    created_at: PrintedTime,
  })
  .openapi("Activity");

const Journey = z
  .object({
    id: z.guid(),
    tenant_id: z.guid(),
    user_id: z.guid().describe("its owner"),
    title: z.string(),
    description: z.string().nullable(),
    status: z.enum(JOURNEY_STATUSES),
    locations: z.array(z.record(z.string(), z.unknown())),
    start_date: z.string().nullable(),
    end_date: z.string().nullable(),
    is_public: z.boolean(),
    created_at: PrintedTime,
    updated_at: PrintedTime,
  })
  .openapi("Journey");

const JourneyWithActivities = Journey.extend({
  activities: z
    .array(Activity)
    .describe("in start order: all of them, unless they are more than 2 MB of text (activities_next_cursor)"),
  activities_next_cursor: z
    .string()
    .nullable()
    .describe("null when every activity is above; else the cursor for GET /v1/journeys/{id}/activities"),
}).openapi("JourneyWithActivities");

const ActivityPage = z
  .object({ activities: z.array(Activity), next_cursor: z.string().nullable() })
  .openapi("ActivityPage");

/** The cursor after a page of activities that has more after it: its last one's (start, id). */
function activitiesCursor(page: { activities: z.infer<typeof Activity>[] }, more: boolean): string | null {
  const last = page.activities.at(-1);
  return more && last ? soonestFirstCursor({ start_date: last.start_datetime, id: last.id }) : null;
}

const JourneyPage = z
  .object({ journeys: z.array(Journey), next_cursor: z.string().nullable() })
  .openapi("JourneyPage");

const REFUSALS: Refusals<JourneyRefusal> = {
  not_member: DENIALS.not_member,
  no_such_journey: ["not_found", "no such journey in this community"],
  not_owner: [
    "forbidden",
    'only its owner can change this journey (a moderator may make a public one private: {"is_public": false})',
  ],
  no_such_activity: ["not_found", "no such activity in this journey"],
  full: ["conflict", `a journey holds at most ${MAX_ACTIVITIES} activities`],
  no_such_reference: ["validation_failed", "content_reference: no such post or event in this community"],
  end_before_start: ["validation_failed", "end_date: a journey cannot end before it starts"],
  activity_end_before_start: ["validation_failed", "end_datetime: an activity cannot end before it starts"],
};

/** A refusal or failure of the journey queries, as the HTTP edge answers it. */
function failure(c: Context<HonoEnv>, e: JourneyRefusal | Retried | DbError): ApiError {
  return e === "in_flight" ? inFlightError() : refusalError(c, e, REFUSALS);
}

const ids = z.object({ id: Id });

export const journeys = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
journeys.use("*", requireUser);
// Per method and path, as the content routes register theirs (content.ts says why).
journeys.on("GET", ["/", "/:id", "/:id/activities"], rateLimit("READ_RATE_LIMITER"));
journeys.on("POST", ["/", "/:id/activities"], rateLimit("WRITE_RATE_LIMITER"));
journeys.on(["PATCH", "DELETE"], "/:id", rateLimit("WRITE_RATE_LIMITER"));
journeys.on(["PATCH", "DELETE"], "/:id/activities/:activity_id", rateLimit("WRITE_RATE_LIMITER"));

journeys.openapi(
  createRoute({
    method: "post",
    path: "/",
    operationId: "createJourney",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Plan a journey in the community, as one of its members",
    description:
      "Private (is_public false) unless said otherwise; status planning unless said otherwise. Idempotency-Key as for posts: a retry answers the journey the first attempt made.",
    request: {
      headers: IdempotencyHeader,
      body: { content: { "application/json": { schema: NewJourney } }, required: true },
    },
    responses: {
      201: jsonResponse(
        Journey,
        "The new journey; a request repeated with its Idempotency-Key answers the same one",
      ),
      ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const made = await newRow(c, { create: "journeys", body }, c.req.valid("header")["idempotency-key"]);
    const result = await timed(c, () => createJourney<z.infer<typeof Journey>>(getSql(c), made, body));
    if (!result.ok) throw failure(c, result.error);
    return c.json(result.value, 201);
  },
);

journeys.openapi(
  createRoute({
    method: "get",
    path: "/",
    operationId: "listJourneys",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "The community's journeys the caller may see (their own and the public ones), newest first",
    request: {
      query: z
        .object({
          user_id: Id.optional().describe("only this member's"),
          status: z.enum(JOURNEY_STATUSES).optional(),
          from: Day.optional().describe(
            "only journeys not over before this day: dated ones, whose end (or start, if it has no end) is on it or later",
          ),
          to: Day.optional().describe(
            "only journeys begun by this day: dated ones, starting on it or earlier",
          ),
          place: z
            .string()
            .min(1)
            .max(200)
            .optional()
            .describe("only journeys going to a place of this `name`, as it was given, case and all"),
          limit: wholeNumberParam(1, 100).default(20),
          cursor: z.string().max(200).optional().describe("next_cursor of the previous page"),
        })
        .refine(...endNotBefore("from", "to")),
    },
    responses: {
      200: jsonResponse(JourneyPage, "One page"),
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const { user_id, status, from, to, place, limit, cursor } = c.req.valid("query");
    const filter = { owner: user_id, status, from, to, place };
    const page = { after: createdAfter(cursor), limit: limit + 1, filter };
    const found = await timed(c, () =>
      listJourneys<z.infer<typeof Journey>>(getSql(c), c.get("tenant").id, currentUser(c).id, page),
    );
    if (!found.ok) throw failure(c, found.error);
    const { rows, more } = pageOf(found.value, limit);
    const last = rows.at(-1);
    return c.json({ journeys: rows, next_cursor: more && last ? createdCursor(last) : null }, 200);
  },
);

journeys.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    operationId: "getJourney",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "One journey with its activities: its owner's, or a public one",
    description:
      "403 for anyone not a member; 404 for a journey not in this community, or another member's private one (the same answer, so its id tells nothing).",
    request: { params: ids },
    responses: {
      200: jsonResponse(JourneyWithActivities, "The journey"),
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    type Read = z.infer<typeof Journey> & {
      activities: z.infer<typeof Activity>[];
      activities_more: boolean;
    };
    const found = await timed(c, () =>
      readJourney<Read>(getSql(c), c.get("tenant").id, currentUser(c).id, c.req.valid("param").id),
    );
    if (!found.ok) throw failure(c, found.error);
    const { activities_more, ...journey } = found.value;
    return c.json({ ...journey, activities_next_cursor: activitiesCursor(journey, activities_more) }, 200);
  },
);

journeys.openapi(
  createRoute({
    method: "get",
    path: "/{id}/activities",
    operationId: "listJourneyActivities",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "A journey's activities in start order, a page at a time (up to limit, and 2 MB of text)",
    description: "Who may read them, and the 403 and 404, as for reading the journey.",
    request: {
      params: ids,
      query: z.object({
        limit: wholeNumberParam(1, MAX_ACTIVITIES).default(100),
        cursor: z
          .string()
          .max(200)
          .optional()
          .describe("activities_next_cursor of the journey, or next_cursor"),
      }),
    },
    responses: {
      200: jsonResponse(ActivityPage, "One page"),
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const which = {
      tenantId: c.get("tenant").id,
      userId: currentUser(c).id,
      journeyId: c.req.valid("param").id,
    };
    const page = { after: soonestFirstAfter(cursor), limit };
    const found = await timed(c, () => listActivities<z.infer<typeof Activity>>(getSql(c), which, page));
    if (!found.ok) throw failure(c, found.error);
    const { activities, more } = found.value;
    return c.json({ activities, next_cursor: activitiesCursor({ activities }, more) }, 200);
  },
);

journeys.openapi(
  createRoute({
    method: "patch",
    path: "/{id}",
    operationId: "changeJourney",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Change the caller's own journey (the fields named; null clears one)",
    description:
      "A moderator or admin may make another member's public journey private ({\"is_public\": false} alone), taking it out of the community's view while its owner keeps it; 403 for any other change of another member's public journey. 404 as for reading. 400 when the dates it leaves are out of order, counting a date it does not name.",
    request: {
      params: ids,
      body: { content: { "application/json": { schema: JourneyChanges } }, required: true },
    },
    responses: {
      200: jsonResponse(Journey, "The journey as it now is"),
      ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503),
    },
  }),
  async (c) => {
    const changed = await timed(c, () =>
      updateJourney<z.infer<typeof Journey>>(
        getSql(c),
        c.get("tenant").id,
        currentUser(c).id,
        c.req.valid("param").id,
        c.req.valid("json"),
      ),
    );
    if (!changed.ok) throw failure(c, changed.error);
    return c.json(changed.value, 200);
  },
);

journeys.openapi(
  createRoute({
    method: "delete",
    path: "/{id}",
    operationId: "deleteJourney",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Delete the caller's own journey, and its activities",
    request: { params: ids },
    responses: {
      204: { description: "Deleted" },
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const gone = await timed(c, () =>
      deleteJourney(getSql(c), c.get("tenant").id, currentUser(c).id, c.req.valid("param").id),
    );
    if (!gone.ok) throw failure(c, gone.error);
    return c.body(null, 204);
  },
);

journeys.openapi(
  createRoute({
    method: "post",
    path: "/{id}/activities",
    operationId: "addJourneyActivity",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Add an activity to the caller's own journey",
    description: `An activity may name a post or an event of this community it is about (400 for one not there). 409 once the journey holds ${MAX_ACTIVITIES}. Idempotency-Key as for posts.`,
    request: {
      headers: IdempotencyHeader,
      params: ids,
      body: { content: { "application/json": { schema: NewActivity } }, required: true },
    },
    responses: {
      201: jsonResponse(
        Activity,
        "The new activity; a request repeated with its Idempotency-Key answers the same one",
      ),
      ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const key = c.req.valid("header")["idempotency-key"];
    const made = await newRow(c, { create: "activities", journey: id, body }, key);
    const result = await timed(c, () => addActivity<z.infer<typeof Activity>>(getSql(c), made, id, body));
    if (!result.ok) throw failure(c, result.error);
    return c.json(result.value, 201);
  },
);

const activityIds = z.object({ id: Id, activity_id: Id });

journeys.openapi(
  createRoute({
    method: "patch",
    path: "/{id}/activities/{activity_id}",
    operationId: "changeJourneyActivity",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Change an activity of the caller's own journey (the fields named; null clears one)",
    description:
      "400 when the times it leaves are out of order, counting one it does not name, or for content_reference naming no post or event of this community.",
    request: {
      params: activityIds,
      body: { content: { "application/json": { schema: ActivityChanges } }, required: true },
    },
    responses: {
      200: jsonResponse(Activity, "The activity as it now is"),
      ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503),
    },
  }),
  async (c) => {
    const { id, activity_id } = c.req.valid("param");
    const ids = {
      tenantId: c.get("tenant").id,
      userId: currentUser(c).id,
      journeyId: id,
      activityId: activity_id,
    };
    const changed = await timed(c, () =>
      updateActivity<z.infer<typeof Activity>>(getSql(c), ids, c.req.valid("json")),
    );
    if (!changed.ok) throw failure(c, changed.error);
    return c.json(changed.value, 200);
  },
);

journeys.openapi(
  createRoute({
    method: "delete",
    path: "/{id}/activities/{activity_id}",
    operationId: "deleteJourneyActivity",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Delete an activity of the caller's own journey",
    request: { params: activityIds },
    responses: {
      204: { description: "Deleted" },
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const { id, activity_id } = c.req.valid("param");
    const gone = await timed(c, () =>
      deleteActivity(getSql(c), c.get("tenant").id, currentUser(c).id, id, activity_id),
    );
    if (!gone.ok) throw failure(c, gone.error);
    return c.body(null, 204);
  },
);
