import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { CONTENT_TYPES } from "../../../../db/schema/content-sharing";
import { ApiError } from "../../../common/errors";
import { createdAfter, DENIALS, type Refusals, refusalError, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { wholeNumberParam } from "../../../common/numbers";
import { errorResponses, jsonResponse, USER_SECURITY } from "../../../common/openapi";
import { createdCursor, pageOf } from "../../../common/pages";
import { rateLimit } from "../../../common/rate-limit";
import { PrintedTime } from "../../../common/time";
import type { ContentKind } from "../content/queries";
import type { HonoEnv } from "../env";
import { currentUser, requireUser } from "../middleware/auth";
import { getSql, timed } from "../middleware/request";
import { TENANT_PARAMETERS } from "../middleware/tenant";
import { listShared, listSharesOf, type ShareRefusal, shareContent, unshareContent } from "../shares/queries";
import { Event, Post } from "./content";

/**
 * A community's posts and events shared into other communities (shares/queries.ts has the
 * rules): made, listed and taken back from the content's own community, under
 * /v1/{posts|events}/{id}/shares, and read in the community they went into, at /v1/shared.
 */

const Share = z
  .object({
    content_type: z.enum(CONTENT_TYPES),
    content_id: z.guid(),
    tenant_id: z.guid().describe("the community it is shared into"),
    tenant_name: z.string(),
    tenant_slug: z.string(),
    shared_by: z.guid().nullable().describe("who shared it; null once that user is erased"),
    shared_at: PrintedTime,
  })
  .openapi("Share");

const SharePage = z
  .object({ shares: z.array(Share), next_cursor: z.string().nullable() })
  .openapi("SharePage");

const REFUSALS: Refusals<ShareRefusal> = {
  not_member: DENIALS.not_member,
  no_such_content: DENIALS.no_such_content,
  not_sharer: ["forbidden", "only the author or a community admin can share this"],
  not_target_member: ["forbidden", "content is shared only into an active community you are a member of"],
  no_such_share: ["not_found", "not shared into that community"],
  not_allowed: [
    "forbidden",
    "only who shared it, its author, or a moderator or admin of either community can take it back",
  ],
};

/** Taking a share back: a member of the community it went into may ask, not only this one's. */
const UNSHARE_REFUSALS: Refusals<ShareRefusal> = {
  ...REFUSALS,
  not_member: ["forbidden", "only members of this community or of the one it is shared into can do that"],
};

const ShareBody = z
  .object({ tenant_id: Id.describe("the community to share into: an active one the caller is a member of") })
  .strict()
  .openapi("ShareBody");

const Limit = wholeNumberParam(1, 100).default(20);
const Cursor = z.string().max(200).optional().describe("next_cursor of the previous page");

/** The share routes of posts or of events, mounted beside their own routes. */
function sharesApp(kind: ContentKind) {
  const one = kind === "posts" ? "post" : "event";
  const Capital = kind === "posts" ? "Post" : "Event";
  const app = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
  app.use("*", requireUser);
  // Per method and path, as the content routes register theirs (content.ts says why).
  app.on("POST", "/:id/shares", rateLimit("WRITE_RATE_LIMITER"));
  app.on("DELETE", "/:id/shares/:tenant_id", rateLimit("WRITE_RATE_LIMITER"));
  app.on("GET", "/:id/shares", rateLimit("READ_RATE_LIMITER"));
  const params = z.object({ id: Id, tenant_id: Id.describe("the community it is shared into") });

  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/shares",
      operationId: `share${Capital}`,
      security: USER_SECURITY,
      parameters: TENANT_PARAMETERS,
      summary: `Share a ${one} of the community into another community of the caller's`,
      description: `Its author or an admin of its community may, into an active community they are a member of; that community's members then read it at /v1/shared/${kind}. A share already there is answered 200 as it is, whoever made it, so a retry makes no second one. 400 for the ${one}'s own community; 403 for anyone not a member, whether or not the ${one} exists; 404 for one not in this community, or deleted.`,
      request: {
        params: params.pick({ id: true }),
        body: { content: { "application/json": { schema: ShareBody } }, required: true },
      },
      responses: {
        201: jsonResponse(Share, "Shared"),
        200: jsonResponse(Share, "Shared already"),
        ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { tenant_id } = c.req.valid("json");
      const tenantId = c.get("tenant").id;
      if (tenant_id === tenantId) {
        throw new ApiError(
          "validation_failed",
          `tenant_id: a ${one} is shared into another community than its own`,
        );
      }
      const ids = { tenantId, userId: currentUser(c).id, contentId: id, targetId: tenant_id };
      const shared = await timed(c, () => shareContent(getSql(c), kind, ids));
      if (!shared.ok) throw refusalError(c, shared.error, REFUSALS);
      return shared.value.made ? c.json(shared.value.share, 201) : c.json(shared.value.share, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}/shares/{tenant_id}",
      operationId: `unshare${Capital}`,
      security: USER_SECURITY,
      parameters: TENANT_PARAMETERS,
      summary: `Take back a share of a ${one} of the community`,
      description: `Who shared it, its author, or a moderator or admin of either community, so a member of the community it went into asks here too, naming the ${one}'s community (its share gives the slug). Also for a ${one} deleted since. 403 for anyone who is a member of neither, whether or not the share exists; 404 for no such share.`,
      request: { params },
      responses: {
        204: { description: "Taken back: gone from the other community at once" },
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id, tenant_id } = c.req.valid("param");
      const ids = {
        tenantId: c.get("tenant").id,
        userId: currentUser(c).id,
        contentId: id,
        targetId: tenant_id,
      };
      const gone = await timed(c, () => unshareContent(getSql(c), kind, ids));
      if (!gone.ok) throw refusalError(c, gone.error, UNSHARE_REFUSALS);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/shares",
      operationId: `list${Capital}Shares`,
      security: USER_SECURITY,
      parameters: TENANT_PARAMETERS,
      summary: `Where a ${one} of the community is shared, newest first`,
      description: `To the community's members. Communities no longer active are left out. 403 and 404 as for reading the ${one}.`,
      request: { params: params.pick({ id: true }), query: z.object({ limit: Limit, cursor: Cursor }) },
      responses: {
        200: jsonResponse(SharePage, "One page"),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { limit, cursor } = c.req.valid("query");
      const ids = { tenantId: c.get("tenant").id, userId: currentUser(c).id, contentId: id };
      const page = { after: createdAfter(cursor), limit: limit + 1 };
      const found = await timed(c, () => listSharesOf(getSql(c), kind, ids, page));
      if (!found.ok) throw refusalError(c, found.error, REFUSALS);
      const { rows, more } = pageOf(found.value, limit);
      const last = rows.at(-1);
      const next_cursor =
        more && last ? createdCursor({ created_at: last.shared_at, id: last.tenant_id }) : null;
      return c.json({ shares: rows, next_cursor }, 200);
    },
  );
  return app;
}

export const postShares = sharesApp("posts");
export const eventShares = sharesApp("events");

const ShareNote = z
  .object({
    shared_by: z.guid().nullable().describe("who shared it; null once that user is erased"),
    shared_at: PrintedTime,
    source_slug: z.string().describe("the slug of the community it comes from, to address it there"),
  })
  .describe("the share: tenant_id and tenant_name are the community the item comes from");

const SharedPost = Post.extend({ share: ShareNote }).openapi("SharedPost");
const SharedEvent = Event.extend({ share: ShareNote }).openapi("SharedEvent");

/** What other communities shared into the resolved one, to its members: mounted at /v1/shared. */
export const shared = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
shared.use("*", requireUser);
shared.on("GET", ["/posts", "/events"], rateLimit("READ_RATE_LIMITER"));

for (const [kind, schema] of [
  ["posts", SharedPost],
  ["events", SharedEvent],
] as const) {
  shared.openapi(
    createRoute({
      method: "get",
      path: `/${kind}`,
      operationId: kind === "posts" ? "listSharedPosts" : "listSharedEvents",
      security: USER_SECURITY,
      parameters: TENANT_PARAMETERS,
      summary: `The ${kind} other communities shared into this one, newest share first`,
      description:
        "To the community's members (403 for anyone else). Content deleted since, or of a community no longer active, is left out. A page stops sooner than limit at about 2 MB of text, as the feed's does (a longer item comes alone), and next_cursor goes on.",
      request: { query: z.object({ limit: Limit, cursor: Cursor }) },
      responses: {
        200: jsonResponse(
          z
            .object({ items: z.array(schema), next_cursor: z.string().nullable() })
            .openapi(kind === "posts" ? "SharedPostPage" : "SharedEventPage"),
          "One page",
        ),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      const ids = { tenantId: c.get("tenant").id, userId: currentUser(c).id };
      const page = { after: createdAfter(cursor), limit };
      const found = await timed(c, () => listShared<z.infer<typeof schema>>(getSql(c), kind, ids, page));
      if (!found.ok) throw refusalError(c, found.error, REFUSALS);
      const { items, more } = found.value;
      const last = items.at(-1);
      const next_cursor =
        more && last ? createdCursor({ created_at: last.share.shared_at, id: last.id }) : null;
      return c.json({ items, next_cursor }, 200);
    },
  );
}
