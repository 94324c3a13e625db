import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { DENIALS, type Refusals, refusalError, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { wholeNumberParam } from "../../../common/numbers";
import { errorResponses, jsonResponse, USER_SECURITY } from "../../../common/openapi";
import { pageOf } from "../../../common/pages";
import { rateLimit } from "../../../common/rate-limit";
import { PrintedTime } from "../../../common/time";
import type { HonoEnv } from "../env";
import { type LikeRefusal, listLikes, setLike } from "../likes/queries";
import { currentUser, requireUser } from "../middleware/auth";
import { getSql, timed } from "../middleware/request";
import { TENANT_PARAMETERS } from "../middleware/tenant";

/**
 * Members like the posts of their community and see who else did: mounted beside the posts' own
 * routes, under /v1/posts/{id}. The count is the post's `likes`, as the feed shows it.
 */

const LikeState = z
  .object({
    post_id: z.guid(),
    liked: z.boolean().describe("whether the caller likes it now"),
    likes: z.number().int().describe("how many like it, the caller's like counted"),
  })
  .openapi("LikeState");

const Likes = z
  .object({
    likes: z.number().int().describe("how many like it"),
    liked: z.boolean().describe("whether the caller is one of them"),
    likers: z.array(
      z.object({
        user_id: z.guid(),
        display_name: z.string().nullable(),
        liked_at: PrintedTime.describe("when they liked it"),
      }),
    ),
    next_cursor: z.string().nullable(),
  })
  .openapi("PostLikes");

const REFUSALS: Refusals<LikeRefusal> = {
  not_member: DENIALS.not_member,
  no_such_content: ["not_found", "no such post in this community"],
};

const params = z.object({ id: Id });

export const likes = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
likes.use("*", requireUser);
// Per method and path, as the content routes register theirs (content.ts says why).
likes.on(["PUT", "DELETE"], "/:id/like", rateLimit("WRITE_RATE_LIMITER"));
likes.on("GET", "/:id/likes", rateLimit("READ_RATE_LIMITER"));

const ERRORS =
  "403 for anyone not a member, whether or not the post exists; 404 for one not in this community, or deleted.";

for (const liked of [true, false]) {
  likes.openapi(
    createRoute({
      method: liked ? "put" : "delete",
      path: "/{id}/like",
      operationId: liked ? "likePost" : "unlikePost",
      security: USER_SECURITY,
      parameters: TENANT_PARAMETERS,
      summary: liked ? "Like a post of the community" : "Take back your like of a post",
      description: `${liked ? "Liking" : "Unliking"} it again changes nothing and counts nothing twice, so a retry is safe. ${ERRORS}${liked ? "" : " One who left the community may still take back their own like."}`,
      request: { params },
      responses: {
        200: jsonResponse(LikeState, "The caller's like, and the post's count"),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const set = await timed(c, () => setLike(getSql(c), c.get("tenant").id, currentUser(c).id, id, liked));
      if (!set.ok) throw refusalError(c, set.error, REFUSALS);
      return c.json(set.value, 200);
    },
  );
}

likes.openapi(
  createRoute({
    method: "get",
    path: "/{id}/likes",
    operationId: "listPostLikes",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Who likes a post: how many, whether the caller does, and the members, a page at a time",
    description: `To the community's members, in user-id order. A like stays when its member leaves the community, as their posts do. ${ERRORS}`,
    request: {
      params,
      query: z.object({
        limit: wholeNumberParam(1, 500).default(100),
        cursor: Id.optional().describe("next_cursor of the previous page"),
      }),
    },
    responses: {
      200: jsonResponse(Likes, "The likes"),
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { limit, cursor } = c.req.valid("query");
    const page = { after: cursor, limit: limit + 1 };
    const found = await timed(c, () => listLikes(getSql(c), c.get("tenant").id, currentUser(c).id, id, page));
    if (!found.ok) throw refusalError(c, found.error, REFUSALS);
    const { rows, more } = pageOf(found.value.likers, limit);
    const next_cursor = more ? (rows.at(-1)?.user_id ?? null) : null;
    return c.json({ ...found.value, likers: rows, next_cursor }, 200);
  },
);
