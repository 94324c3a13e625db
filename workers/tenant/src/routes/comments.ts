import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { DbError } from "../../../common/db";
import type { ApiError } from "../../../common/errors";
import { createdAfter, DENIALS, type Refusals, refusalError, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { wholeNumberParam } from "../../../common/numbers";
import { errorResponses, jsonResponse, USER_SECURITY } from "../../../common/openapi";
import { createdCursor, pageOf } from "../../../common/pages";
import { rateLimit } from "../../../common/rate-limit";
import { PrintedTime } from "../../../common/time";
import { type CommentRefusal, createComment, deleteComment, listComments } from "../comments/queries";
import type { HonoEnv } from "../env";
import { IdempotencyHeader, inFlightError, newRow } from "../jobs/idempotency";
import { currentUser, requireUser } from "../middleware/auth";
import { getSql, timed } from "../middleware/request";
import { TENANT_PARAMETERS } from "../middleware/tenant";

/**
 * Members comment on the posts of their community: mounted beside the posts' own routes, under
 * /v1/posts/{id}. The count is the post's `comments`, as the feed shows it. A comment is made at
 * once (its author sees it on the next read) and is not edited: deleted and written again.
 */

const CommentFields = z
  .object({ content: z.string().min(1).max(4000).describe("the comment's text") })
  .strict()
  .openapi("NewComment");

const Comment = z
  .object({
    id: z.guid(),
    post_id: z.guid(),
    user_id: z.guid().describe("who wrote it"),
    display_name: z.string().nullable().describe("their display name"),
    content: z.string(),
    created_at: PrintedTime,
  })
  .openapi("Comment");

const Comments = z
  .object({
    comments: z.number().int().describe("how many comments the post has"),
    items: z.array(Comment).describe("oldest first"),
    next_cursor: z.string().nullable(),
  })
  .openapi("PostComments");

const REFUSALS: Refusals<Exclude<CommentRefusal, "in_flight">> = {
  not_member: DENIALS.not_member,
  no_such_content: ["not_found", "no such post in this community"],
  no_such_comment: ["not_found", "no such comment on this post"],
  not_moderator: DENIALS.not_moderator,
};

function failure(c: Context<HonoEnv>, e: CommentRefusal | DbError): ApiError {
  return e === "in_flight" ? inFlightError() : refusalError(c, e, REFUSALS);
}

const params = z.object({ id: Id });
const ERRORS =
  "403 for anyone not a member, whether or not the post exists; 404 for one not in this community, or deleted.";

export const comments = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
comments.use("*", requireUser);
// Per method and path, as the content routes register theirs (content.ts says why).
comments.on("POST", "/:id/comments", rateLimit("WRITE_RATE_LIMITER"));
comments.on("DELETE", "/:id/comments/:comment_id", rateLimit("WRITE_RATE_LIMITER"));
comments.on("GET", "/:id/comments", rateLimit("READ_RATE_LIMITER"));

comments.openapi(
  createRoute({
    method: "post",
    path: "/{id}/comments",
    operationId: "commentOnPost",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Comment on a post of the community, as one of its members",
    description: `The post's author is told (a \`post_commented\` notification), unless it is their own comment or they muted it. ${ERRORS}`,
    request: {
      params,
      headers: IdempotencyHeader,
      body: { content: { "application/json": { schema: CommentFields } }, required: true },
    },
    responses: {
      201: jsonResponse(
        Comment,
        "The new comment; a request repeated with its Idempotency-Key answers the same one",
      ),
      ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const made = await newRow(
      c,
      { create: "comment", post_id: id, body },
      c.req.valid("header")["idempotency-key"],
    );
    const result = await timed(c, () =>
      createComment(getSql(c), made.tenantId, made.userId, id, { ...body, id: made.id, at: made.at }),
    );
    if (!result.ok) throw failure(c, result.error);
    return c.json(result.value, 201);
  },
);

comments.openapi(
  createRoute({
    method: "get",
    path: "/{id}/comments",
    operationId: "listPostComments",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "A post's comments, oldest first, a page at a time",
    description: `To the community's members. A comment stays when its author leaves the community, as their posts do. ${ERRORS}`,
    request: {
      params,
      query: z.object({
        limit: wholeNumberParam(1, 200).default(50),
        cursor: z.string().optional().describe("next_cursor of the previous page"),
      }),
    },
    responses: {
      200: jsonResponse(Comments, "The comments"),
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { limit, cursor } = c.req.valid("query");
    const page = { after: createdAfter(cursor), limit: limit + 1 };
    const found = await timed(c, () =>
      listComments(getSql(c), c.get("tenant").id, currentUser(c).id, id, page),
    );
    if (!found.ok) throw failure(c, found.error);
    const { rows, more } = pageOf(found.value.items, limit);
    const last = rows.at(-1);
    const next_cursor = more && last ? createdCursor(last) : null;
    return c.json({ comments: found.value.comments, items: rows, next_cursor }, 200);
  },
);

comments.openapi(
  createRoute({
    method: "delete",
    path: "/{id}/comments/{comment_id}",
    operationId: "deletePostComment",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Delete a comment: its author, a moderator or a community admin",
    description: `${ERRORS} 404 too for a comment not on this post. One who left the community may still delete their own comment.`,
    request: { params: z.object({ id: Id, comment_id: Id }) },
    responses: {
      204: { description: "The comment is deleted, and counted off the post" },
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const { id, comment_id } = c.req.valid("param");
    const gone = await timed(c, () =>
      deleteComment(getSql(c), c.get("tenant").id, currentUser(c).id, id, comment_id, c.get("requestId")),
    );
    if (!gone.ok) throw failure(c, gone.error);
    return c.body(null, 204);
  },
);
