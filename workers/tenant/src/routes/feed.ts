import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { ApiError } from "../../../common/errors";
import { adminTokens, dbFailure, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { wholeNumberParam } from "../../../common/numbers";
import { errorResponses, USER_SECURITY } from "../../../common/openapi";
import { rateLimit } from "../../../common/rate-limit";
import type { HonoEnv } from "../env";
import {
  COMMUNITY_CURSOR_MAX_LENGTH,
  decodeCommunityCursor,
  decodeCursor,
  encodeCommunityCursor,
  encodeCursor,
} from "../feed/cursor";
import { readCommunities, readFeed } from "../feed/queries";
import type { FeedType } from "../feed/sql";
import { currentUser, requireUser } from "../middleware/auth";
import { getSql, timed } from "../middleware/request";

const FeedQuery = z.object({
  type: z.string().default("posts").describe("posts (newest first) or events (upcoming, soonest first)"),
  tenants: z
    .string()
    .optional()
    .describe(
      "Comma-separated tenant ids (at most 100); ids of communities you are not in are dropped. Empty: no filter (your saved selection, else every community shown in your feed).",
    ),
  limit: wholeNumberParam(1, 100)
    .default(20)
    .describe(
      "Items a page at most; a page of long posts or events stops sooner, at about 2 MB of text (a longer item comes alone), and next_cursor goes on",
    ),
  cursor: z.string().max(1024).optional().describe("next_cursor of the previous page"),
});

const FeedItem = z.record(z.string(), z.unknown()).openapi("FeedItem");
const FeedPage = z
  .object({ items: z.array(FeedItem), next_cursor: z.string().nullable() })
  .openapi("FeedPage");

const Community = z
  .object({
    tenant_id: z.guid(),
    name: z.string(),
    slug: z.string(),
    logo_url: z.string().nullable(),
    role: z.string(),
    is_admin: z.boolean(),
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
    c.header("Cache-Control", "private, no-store");
    return c.json(
      {
        items: page.value.items,
        next_cursor: page.value.next ? await encodeCursor(secrets.sign, scope, page.value.next) : null,
      },
      200,
    );
  },
);

export const me = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
me.use("*", requireUser, rateLimit("READ_RATE_LIMITER"));
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
    c.header("Cache-Control", "private, no-store");
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
