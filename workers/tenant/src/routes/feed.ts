import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { ApiError, describeIssues } from "../../../common/errors";
import { adminTokens, dbFailure, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { NAMES_A_FIELD, NotificationType } from "../../../common/jobs";
import { wholeNumberParam } from "../../../common/numbers";
import { errorResponses, jsonResponse, USER_SECURITY } from "../../../common/openapi";
import { rateLimit } from "../../../common/rate-limit";
import { manageMember } from "../auth/membership";
import type { HonoEnv } from "../env";
import {
  COMMUNITY_CURSOR_MAX_LENGTH,
  decodeCommunityCursor,
  decodeCursor,
  encodeCommunityCursor,
  encodeCursor,
} from "../feed/cursor";
import { changeCommunity, readCommunities, readFeed, readSelection, saveSelection } from "../feed/queries";
import type { FeedType } from "../feed/sql";
import { currentUser, requireUser } from "../middleware/auth";
import { getDb, getSql, memberCache, timed } from "../middleware/request";
import { Event, Post } from "./content";
import { Interest, MemberProfile } from "./members";

const FeedQuery = z.object({
  type: z.string().default("posts").describe("posts (newest first) or events (upcoming, soonest first)"),
  tenants: z
    .string()
    .optional()
    .describe(
      "Comma-separated tenant ids (at most 100); ids of communities you are not in are dropped. Empty: no filter (your saved selection, PUT /v1/me/feed-selection, else every community shown in your feed).",
    ),
  limit: wholeNumberParam(1, 100)
    .default(20)
    .describe(
      "Items a page at most; a page of long posts or events stops sooner, at about 2 MB of text (a longer item comes alone), and next_cursor goes on",
    ),
  cursor: z.string().max(1024).optional().describe("next_cursor of the previous page"),
});

const FeedPost = Post.extend({ content_type: z.literal("post") }).openapi("FeedPost");

/** An event as the feed walks them (db/migrations/0024's feed_events): fewer columns than one event. */
const FeedEvent = Event.pick({
  id: true,
  tenant_id: true,
  tenant_name: true,
  title: true,
  description: true,
  start_date: true,
  location_name: true,
  image_url: true,
})
  .extend({ content_type: z.literal("event") })
  .openapi("FeedEvent");

const FeedItem = z.union([FeedPost, FeedEvent]).openapi("FeedItem");
const FeedPage = z
  .object({ items: z.array(FeedItem), next_cursor: z.string().nullable() })
  .openapi("FeedPage");

const NotificationSettings = z
  .object({
    muted: z
      .boolean()
      .describe("nothing from this community: no notification is written for the caller, whoever sends it"),
    muted_types: z
      .array(NotificationType)
      .max(50)
      .describe(
        "nothing of these types from it: a notification's `type`, as its sender names it, case and all",
      ),
  })
  .describe(
    "What the caller does not want of the community's notifications. Judged when one is written: unmuting brings back none sent meanwhile",
  )
  .openapi("NotificationSettings");

const Community = z
  .object({
    tenant_id: z.guid(),
    name: z.string(),
    slug: z.string(),
    logo_url: z.string().nullable(),
    role: z.string(),
    is_admin: z.boolean(),
    display_in_feed: z
      .boolean()
      .describe(
        "shown in the caller's feed when no selection is saved (PATCH /v1/me/communities/{tenant_id})",
      ),
    notifications: NotificationSettings,
    ...MemberProfile,
    member_count: z.number().int().nullable(),
    recent_activity_count: z.number().int().nullable(),
  })
  .openapi("Community");

const CommunitiesQuery = z.object({
  limit: wholeNumberParam(1, 500).default(100),
  cursor: z.string().max(COMMUNITY_CURSOR_MAX_LENGTH).optional().describe("next_cursor of the previous page"),
});

function parseTenants(raw: string | undefined): string[] | null {
  if (raw === undefined) return null;
  const given = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  // No ids is no filter, as in the original function (a client sending its empty selection).
  if (given.length === 0) return null;
  if (given.length > 100) throw new ApiError("validation_failed", "tenants: at most 100 ids");
  const ids = given.map((text) => {
    const id = Id.safeParse(text);
    if (!id.success)
      throw new ApiError("validation_failed", `tenants: ${text.slice(0, 40)} is not a tenant id`);
    return id.data;
  });
  return [...new Set(ids)].sort();
}

/**
 * Cursors are signed with a key derived from the worker's own secret: AUTH_JWT_SECRET, or without
 * one (tokens from a JWKS) the admin token, whose rotation they follow (adminTokens): a cursor
 * signed before it is taken while the old token is, so a rotation turns no feed being scrolled
 * into a 400.
 */
function cursorSecrets(env: HonoEnv["Bindings"]): { sign: string; verify: string[] } {
  const verify = env.AUTH_JWT_SECRET ? [env.AUTH_JWT_SECRET] : adminTokens(env);
  const [sign] = verify;
  if (sign === undefined) throw new ApiError("service_unavailable", "the feed is not configured");
  return { sign, verify };
}

export const feed = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
feed.use("*", requireUser, rateLimit("READ_RATE_LIMITER"));
feed.openapi(
  createRoute({
    method: "get",
    path: "/",
    operationId: "getFeed",
    security: USER_SECURITY,
    summary: "Posts or upcoming events across the caller's communities, keyset-paged",
    request: { query: FeedQuery },
    responses: {
      200: { description: "One page", content: { "application/json": { schema: FeedPage } } },
      ...errorResponses(400, 401, 429, 503),
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    if (q.type !== "posts" && q.type !== "events") {
      throw new ApiError("unsupported_content_type", "type must be posts or events");
    }
    const type: FeedType = q.type;
    const user = currentUser(c);
    const requested = parseTenants(q.tenants);
    const scope = { type, userId: user.id, filter: requested?.join(",") ?? "" };
    const secrets = cursorSecrets(c.env);
    const after = q.cursor ? await decodeCursor(secrets.verify, scope, q.cursor) : null;
    if (q.cursor && !after) throw new ApiError("invalid_cursor", "the cursor is not one this feed gave out");
    const page = await timed(c, () => readFeed(getSql(c), user.id, type, requested, after, q.limit));
    if (!page.ok) throw dbFailure(c, page.error, "the feed is unavailable, try again shortly");
    return c.json(
      {
        items: page.value.items,
        next_cursor: page.value.next ? await encodeCursor(secrets.sign, scope, page.value.next) : null,
      },
      200,
    );
  },
);

const FeedSelection = z
  .object({
    tenant_ids: z
      .array(z.guid())
      .describe("the chosen communities; none: every community marked for the feed"),
    updated_at: z.string().nullable().describe("when it was saved; null: never, or removed"),
  })
  .openapi("FeedSelection");

const FeedSelectionBody = z
  .object({
    tenant_ids: z
      .array(Id)
      .max(100)
      .describe("communities of the caller's, at most 100; an empty list removes the selection"),
  })
  .strict()
  .openapi("FeedSelectionBody");

export const me = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
me.use("*", requireUser);
// Method by method, not "*": a middleware for PUT on every path would count as a route serving
// it, and a PUT of /communities would be answered 415 for its body rather than 405.
me.on("GET", ["/communities", "/feed-selection"], rateLimit("READ_RATE_LIMITER"));
me.on("PUT", "/feed-selection", rateLimit("WRITE_RATE_LIMITER"));
me.on(["PATCH", "DELETE"], "/communities/:tenant_id", rateLimit("WRITE_RATE_LIMITER"));
me.openapi(
  createRoute({
    method: "get",
    path: "/communities",
    operationId: "listMyCommunities",
    security: USER_SECURITY,
    summary: "The caller's communities in name order, keyset-paged, with member and recent-activity counts",
    request: { query: CommunitiesQuery },
    responses: {
      200: {
        description: "Memberships are live; counts come from a view refreshed every 5 minutes (data_as_of).",
        content: {
          "application/json": {
            schema: z
              .object({
                communities: z.array(Community),
                data_as_of: z.string().nullable(),
                next_cursor: z.string().nullable(),
              })
              .openapi("Communities"),
          },
        },
      },
      ...errorResponses(400, 401, 429, 503),
    },
  }),
  async (c) => {
    const user = currentUser(c);
    const { limit, cursor } = c.req.valid("query");
    const after = cursor === undefined ? null : decodeCommunityCursor(cursor);
    if (cursor !== undefined && !after) {
      throw new ApiError("invalid_cursor", "the cursor is not one this list gave out");
    }
    const result = await timed(c, () => readCommunities(getSql(c), user.id, after, limit));
    if (!result.ok) throw dbFailure(c, result.error);
    const { communities, dataAsOf, more } = result.value;
    const last = more ? communities.at(-1) : undefined;
    return c.json(
      {
        communities,
        data_as_of: dataAsOf,
        next_cursor: last ? encodeCommunityCursor({ name: last.name, id: last.tenant_id }) : null,
      },
      200,
    );
  },
);

/**
 * The saved selection the feed reads when a request names no communities. The original design's
 * clients wrote it straight to Supabase; the database is no longer theirs, so without this the
 * feed honoured a choice no one could make.
 */
me.openapi(
  createRoute({
    method: "get",
    path: "/feed-selection",
    operationId: "getFeedSelection",
    security: USER_SECURITY,
    summary: "The communities the caller's feed shows when a request names none",
    responses: { 200: jsonResponse(FeedSelection, "The selection"), ...errorResponses(401, 429, 503) },
  }),
  async (c) => {
    const result = await timed(c, () => readSelection(getSql(c), currentUser(c).id));
    if (!result.ok) throw dbFailure(c, result.error);
    return c.json(result.value, 200);
  },
).openapi(
  createRoute({
    method: "put",
    path: "/feed-selection",
    operationId: "putFeedSelection",
    security: USER_SECURITY,
    summary: "Choose the communities the caller's feed shows when a request names none",
    description:
      "Replaces the selection; only the caller's own communities may be in it (400 names the others, and nothing is saved). A community left later stays in it and shows nothing; with every chosen one left, the feed is empty until the selection changes.",
    request: { body: { content: { "application/json": { schema: FeedSelectionBody } }, required: true } },
    responses: {
      200: jsonResponse(FeedSelection, "Saved"),
      ...errorResponses(400, 401, 413, 415, 429, 503),
    },
  }),
  async (c) => {
    const { tenant_ids } = c.req.valid("json");
    const ids = [...new Set(tenant_ids)].sort();
    const result = await timed(c, () => saveSelection(getSql(c), currentUser(c).id, ids));
    if (!result.ok) throw dbFailure(c, result.error);
    if ("strangers" in result.value) {
      // By position, as a validation error names a field: the ids are the caller's own words.
      const strangers = new Set(result.value.strangers);
      const issues = tenant_ids.flatMap((id, i) =>
        strangers.has(id) ? [{ path: ["tenant_ids", i], message: "not a community of yours" }] : [],
      );
      throw new ApiError("validation_failed", describeIssues(issues, "tenant_ids"));
    }
    return c.json(result.value, 200);
  },
);

const CommunityChange = z
  .object({
    display_in_feed: z.boolean().describe("false hides the community from the feed"),
    notifications: NotificationSettings.partial()
      .strict()
      .refine(...NAMES_A_FIELD)
      .describe("the settings named replace the caller's; the others stay"),
    expertise_level: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .nullable()
      .describe("in the caller's own words (beginner, 5.11a, ten years…); shown to the community's members"),
    interests: z
      .array(Interest)
      .max(30)
      .describe(
        "the whole list, replacing the last; kept in lower case, each once; shown to the community's members",
      ),
  })
  .partial()
  .strict()
  .refine(...NAMES_A_FIELD)
  .openapi("CommunityChange");

me.openapi(
  createRoute({
    method: "patch",
    path: "/communities/{tenant_id}",
    operationId: "changeMyCommunity",
    security: USER_SECURITY,
    summary:
      "Change one of the caller's communities as they have it: in their feed or not, its notifications muted, what they say of themselves there",
    description:
      "The fields named change. display_in_feed is what the feed reads when no selection is saved (a saved one, PUT /v1/me/feed-selection, decides by itself). notifications: the batch worker writes no notification for the caller from a muted community, or of a muted type, whoever sends it. 404 for a community that is not the caller's, or not active.",
    request: {
      params: z.object({ tenant_id: Id }),
      body: { content: { "application/json": { schema: CommunityChange } }, required: true },
    },
    responses: {
      200: jsonResponse(Community, "The community as the caller now has it"),
      ...errorResponses(400, 401, 404, 413, 415, 429, 503),
    },
  }),
  async (c) => {
    const { tenant_id } = c.req.valid("param");
    const change = c.req.valid("json");
    const types = change.notifications?.muted_types;
    // One entry a type, in one order: the settings read back as a set.
    if (types) change.notifications = { ...change.notifications, muted_types: [...new Set(types)].sort() };
    // Each once, in the order the member gave them.
    if (change.interests) change.interests = [...new Set(change.interests)];
    const result = await timed(c, () => changeCommunity(getSql(c), currentUser(c).id, tenant_id, change));
    if (!result.ok) throw dbFailure(c, result.error);
    if (!result.value) throw new ApiError("not_found", "not one of your communities");
    return c.json(result.value, 200);
  },
);

me.openapi(
  createRoute({
    method: "delete",
    path: "/communities/{tenant_id}",
    operationId: "leaveCommunity",
    security: USER_SECURITY,
    summary: "Leave one of the caller's communities",
    description:
      "The membership goes at once: posting, reading content and the feed see it at once; the context and the enqueue API's check when the cached membership goes (at once in this isolate, elsewhere within 30 s plus KV propagation). 409 for the community's last owner, or its last admin (is_admin, or an owner or admin role): another member must be made one first (PATCH /v1/members/{user_id}, or an operator's PUT /admin/tenants/{id}/members/{userId}). 404 for a community that is not the caller's, or not active. A saved feed selection keeps it, and it shows nothing there.",
    request: { params: z.object({ tenant_id: Id }) },
    responses: {
      204: { description: "Left" },
      ...errorResponses(400, 401, 404, 409, 429, 503),
    },
  }),
  async (c) => {
    const { tenant_id } = c.req.valid("param");
    const self = currentUser(c).id;
    // Leaving is removing yourself: what refuses it is the last-admin rule, or no membership.
    const change = {
      tenantId: tenant_id,
      actorId: self,
      targetId: self,
      role: null,
      requestId: c.get("requestId"),
    };
    const left = await timed(c, () => manageMember(getDb(c), memberCache(c), change));
    if (!left.ok) {
      if (left.error === "last_admin" || left.error === "last_owner") {
        const last = left.error === "last_owner" ? "owner" : "admin";
        throw new ApiError(
          "conflict",
          `you are this community's last ${last}: another member must be made an ${last} before you leave`,
        );
      }
      if (typeof left.error === "string") throw new ApiError("not_found", "not one of your communities");
      throw dbFailure(c, left.error);
    }
    return c.body(null, 204);
  },
);
