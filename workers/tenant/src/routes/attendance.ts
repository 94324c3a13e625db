import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { ATTENDANCE_STATUSES } from "../../../../db/schema/event-attendees";
import {
  DENIALS,
  dbFailure,
  type Refusals,
  refusalError,
  soonestFirstAfter,
  validationHook,
} from "../../../common/http";
import { Id } from "../../../common/ids";
import { wholeNumberParam } from "../../../common/numbers";
import { errorResponses, jsonResponse, USER_SECURITY } from "../../../common/openapi";
import { pageOf, soonestFirstCursor } from "../../../common/pages";
import { rateLimit } from "../../../common/rate-limit";
import { PrintedTime } from "../../../common/time";
import {
  type AttendanceRefusal,
  answerEvent,
  listAttendees,
  listMyEvents,
  withdrawAnswer,
} from "../attendance/queries";
import type { HonoEnv } from "../env";
import { currentUser, requireUser } from "../middleware/auth";
import { getSql, timed } from "../middleware/request";
import { TENANT_PARAMETERS } from "../middleware/tenant";
import { Event } from "./content";

/**
 * Members answer the events of their community, going or interested, and see who else did:
 * mounted beside the events' own routes, under /v1/events/{id}.
 */

const Status = z.enum(ATTENDANCE_STATUSES);

const Answer = z
  .object({ status: Status.describe("going, or interested") })
  .strict()
  .openapi("AttendanceAnswer");

const Attendance = z
  .object({
    event_id: z.guid(),
    user_id: z.guid(),
    status: Status,
    responded_at: PrintedTime.describe("when the answer last changed"),
  })
  .openapi("Attendance");

const Attendees = z
  .object({
    going: z.number().int().describe("members going"),
    interested: z.number().int().describe("members interested"),
    mine: Status.nullable().describe("the caller's own answer"),
    attendees: z.array(Attendance.extend({ display_name: z.string().nullable() })),
    next_cursor: z.string().nullable(),
  })
  .openapi("Attendees");

const REFUSALS: Refusals<AttendanceRefusal> = {
  not_member: DENIALS.not_member,
  no_such_content: ["not_found", "no such event in this community"],
  event_over: ["conflict", "the event is over: it takes no more answers"],
};

const params = z.object({ id: Id });

export const attendance = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
attendance.use("*", requireUser);
// Per method and path, as the content routes register theirs (content.ts says why).
attendance.on(["PUT", "DELETE"], "/:id/attendance", rateLimit("WRITE_RATE_LIMITER"));
attendance.on("GET", "/:id/attendees", rateLimit("READ_RATE_LIMITER"));

attendance.openapi(
  createRoute({
    method: "put",
    path: "/{id}/attendance",
    operationId: "answerEvent",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Say you are going to an event of the community, or interested in it",
    description:
      "The answer replaces the caller's last; the same again changes nothing. 403 for anyone not a member, whether or not the event exists; 404 for one not in this community, or deleted; 409 once it is over (its end, or its start if it has none, has passed).",
    request: {
      params,
      body: { content: { "application/json": { schema: Answer } }, required: true },
    },
    responses: {
      200: jsonResponse(Attendance, "The caller's answer"),
      ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { status } = c.req.valid("json");
    const answered = await timed(c, () =>
      answerEvent(getSql(c), c.get("tenant").id, currentUser(c).id, id, status),
    );
    if (!answered.ok) throw refusalError(c, answered.error, REFUSALS);
    return c.json(answered.value, 200);
  },
);

attendance.openapi(
  createRoute({
    method: "delete",
    path: "/{id}/attendance",
    operationId: "withdrawEventAnswer",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Take back your answer to an event",
    description:
      "204 whether or not the caller had answered, also once the event is over. 403 and 404 as for answering.",
    request: { params },
    responses: {
      204: { description: "No answer of the caller's stands" },
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const gone = await timed(c, () => withdrawAnswer(getSql(c), c.get("tenant").id, currentUser(c).id, id));
    if (!gone.ok) throw refusalError(c, gone.error, REFUSALS);
    return c.body(null, 204);
  },
);

attendance.openapi(
  createRoute({
    method: "get",
    path: "/{id}/attendees",
    operationId: "listEventAttendees",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary:
      "Who answered an event: how many of each, the caller's own answer, and the members, a page at a time",
    description:
      "To the community's members. Members who have left are neither listed nor counted. Pages in user-id order. 403 and 404 as for answering.",
    request: {
      params,
      query: z.object({
        status: Status.optional().describe("only those who answered so"),
        limit: wholeNumberParam(1, 500).default(100),
        cursor: Id.optional().describe("next_cursor of the previous page"),
      }),
    },
    responses: {
      200: jsonResponse(Attendees, "The answers"),
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { status, limit, cursor } = c.req.valid("query");
    const page = { after: cursor, status, limit: limit + 1 };
    const found = await timed(c, () =>
      listAttendees(getSql(c), c.get("tenant").id, currentUser(c).id, id, page),
    );
    if (!found.ok) throw refusalError(c, found.error, REFUSALS);
    const { rows, more } = pageOf(found.value.attendees, limit);
    const next_cursor = more ? (rows.at(-1)?.user_id ?? null) : null;
    return c.json({ ...found.value, attendees: rows, next_cursor }, 200);
  },
);

const AnsweredEvent = Event.extend({ attendance: Status.describe("the caller's answer") }).openapi(
  "AnsweredEvent",
);

const AnsweredEventPage = z
  .object({ events: z.array(AnsweredEvent), next_cursor: z.string().nullable() })
  .openapi("AnsweredEventPage");

/** The caller's own calendar, across their communities: mounted at /v1/me/events. */
export const myEvents = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
myEvents.use("*", requireUser);
myEvents.on("GET", "/", rateLimit("READ_RATE_LIMITER"));

myEvents.openapi(
  createRoute({
    method: "get",
    path: "/",
    operationId: "listMyEvents",
    security: USER_SECURITY,
    summary: "The events the caller answered that are not over yet, across their communities, soonest first",
    description:
      "Only events of active communities the caller is still a member of, not deleted. Keyset-paged on (start_date, id).",
    request: {
      query: z.object({
        status: Status.optional().describe("only those answered so"),
        limit: wholeNumberParam(1, 100).default(20),
        cursor: z.string().max(200).optional().describe("next_cursor of the previous page"),
      }),
    },
    responses: {
      200: jsonResponse(AnsweredEventPage, "One page"),
      ...errorResponses(400, 401, 429, 503),
    },
  }),
  async (c) => {
    const { status, limit, cursor } = c.req.valid("query");
    const page = { after: soonestFirstAfter(cursor), status, limit: limit + 1 };
    const found = await timed(c, () =>
      listMyEvents<z.infer<typeof AnsweredEvent>>(getSql(c), currentUser(c).id, page),
    );
    if (!found.ok) throw dbFailure(c, found.error);
    const { rows, more } = pageOf(found.value, limit);
    const last = rows.at(-1);
    return c.json({ events: rows, next_cursor: more && last ? soonestFirstCursor(last) : null }, 200);
  },
);
