import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Denial } from "../../../common/authz";
import type { DbError } from "../../../common/db";
import type { ApiError } from "../../../common/errors";
import { DENIALS, refusalError, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { EventFields, PostFields } from "../../../common/jobs";
import { errorResponses, USER_SECURITY } from "../../../common/openapi";
import { rateLimit } from "../../../common/rate-limit";
import { PrintedTime } from "../../../common/time";
import {
  type ContentKind,
  type CreateRefusal,
  createContent,
  deleteContent,
  readContent,
} from "../content/queries";
import type { HonoEnv } from "../env";
import { IdempotencyHeader, inFlightError, newRow } from "../jobs/idempotency";
import { currentUser, requireUser } from "../middleware/auth";
import { getSql, timed } from "../middleware/request";
import { TENANT_PARAMETERS } from "../middleware/tenant";

/**
 * Members' posts and events in the resolved community: made here, at once, so the author gets
 * the id to edit it by (update_content, queued) and sees it in their feed on the next read.
 * Edits stay queued: they are ordered by their enqueue time, which a synchronous write here
 * would not be.
 */

export const Post = z
  .object({
    id: z.guid(),
    tenant_id: z.guid(),
    tenant_name: z.string(),
    user_id: z.guid(),
    content: z.string(),
    created_at: PrintedTime,
    likes: z.number().int().describe("how many members like it (PUT /v1/posts/{id}/like)"),
    comments: z.number().int().describe("how many comments it has (POST /v1/posts/{id}/comments)"),
    liked: z.boolean().describe("whether the caller likes it"),
  })
  .openapi("Post");

export const Event = z
  .object({
    id: z.guid(),
    tenant_id: z.guid(),
    tenant_name: z.string(),
    created_by: z.guid().nullable(),
    title: z.string(),
    description: z.string().nullable(),
    start_date: PrintedTime,
    end_date: PrintedTime.nullable(),
    location_name: z.string().nullable(),
    image_url: z.string().nullable(),
    created_at: PrintedTime,
  })
  .openapi("Event");

/** A refusal or a failure of the content queries, as the HTTP edge answers it. */
function failure(c: Context<HonoEnv>, e: DbError | Denial | CreateRefusal): ApiError {
  return e === "in_flight" ? inFlightError() : refusalError(c, e, DENIALS);
}

/**
 * The routes of posts and of events: create, and on one id read and delete. Reads count with the
 * feed's, writes with the writes, each limiter registered for its own method and path: a
 * middleware for a method counts as a route serving it (servesRequest), and a POST of /{id}
 * would then be answered for its body rather than 405.
 */
function contentApp(
  kind: ContentKind,
  schema: typeof Post | typeof Event,
  fields: typeof PostFields | typeof EventFields,
) {
  const one = kind === "posts" ? "post" : "event";
  const Capital = kind === "posts" ? "Post" : "Event";
  const app = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
  app.use("*", requireUser);
  app.on("GET", "/:id", rateLimit("READ_RATE_LIMITER"));
  app.on("POST", "/", rateLimit("WRITE_RATE_LIMITER"));
  app.on("DELETE", "/:id", rateLimit("WRITE_RATE_LIMITER"));
  const params = z.object({ id: Id });
  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: `create${Capital}`,
      security: USER_SECURITY,
      parameters: TENANT_PARAMETERS,
      summary:
        kind === "posts"
          ? "Post in the community, as one of its members"
          : "Add an event to the community, as one of its members",
      request: {
        headers: IdempotencyHeader,
        body: { content: { "application/json": { schema: fields } }, required: true },
      },
      responses: {
        201: {
          description: `The new ${one}; a request repeated with its Idempotency-Key answers the same one`,
          content: { "application/json": { schema } },
        },
        ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
      },
    }),
    async (c) => {
      const body: Record<string, unknown> = c.req.valid("json");
      const made = await newRow(c, { create: kind, body }, c.req.valid("header")["idempotency-key"]);
      const result = await timed(c, () => createContent<z.infer<typeof schema>>(getSql(c), kind, made, body));
      if (!result.ok) throw failure(c, result.error);
      return c.json(result.value, 201);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: `get${Capital}`,
      security: USER_SECURITY,
      parameters: TENANT_PARAMETERS,
      summary: `One ${one} of the community, to its members`,
      description: `403 for anyone not a member, whether or not the ${one} exists; 404 for one not in this community, or deleted.`,
      request: { params },
      responses: {
        200: { description: `The ${one}`, content: { "application/json": { schema } } },
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const found = await timed(c, () =>
        readContent<z.infer<typeof schema>>(getSql(c), kind, c.get("tenant").id, currentUser(c).id, id),
      );
      if (!found.ok) throw failure(c, found.error);
      return c.json(found.value, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      operationId: `delete${Capital}`,
      security: USER_SECURITY,
      parameters: TENANT_PARAMETERS,
      summary: `Delete a ${one}: its author, a moderator or a community admin`,
      request: { params },
      responses: {
        204: { description: `The ${one} is deleted: gone from every feed, and no edit applies to it` },
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const gone = await timed(c, () =>
        deleteContent(getSql(c), kind, c.get("tenant").id, currentUser(c).id, id, c.get("requestId")),
      );
      if (!gone.ok) throw failure(c, gone.error);
      return c.body(null, 204);
    },
  );
  return app;
}

export const posts = contentApp("posts", Post, PostFields.openapi("NewPost"));
export const events = contentApp("events", Event, EventFields.openapi("NewEvent"));
