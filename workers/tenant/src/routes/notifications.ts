import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { createdAfter, dbFailure, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { wholeNumberParam } from "../../../common/numbers";
import { errorResponses, jsonResponse, USER_SECURITY } from "../../../common/openapi";
import { createdCursor, QueryFlag } from "../../../common/pages";
import { rateLimit } from "../../../common/rate-limit";
import type { HonoEnv } from "../env";
import {
  countUnread,
  MARK_ALL_MAX,
  markAllRead,
  markRead,
  readInbox,
  UNREAD_COUNT_MAX,
} from "../inbox/queries";
import { currentUser, requireUser } from "../middleware/auth";
import { getSql, timed } from "../middleware/request";

/**
 * The caller's inbox: the notifications the batch worker wrote for them, from every community,
 * newest first. The original design's clients read them straight from Supabase (row-level
 * security); the database is no longer theirs to read, so without this route a notification
 * was written and never seen.
 */
const InboxQuery = z.object({
  tenant_id: Id.optional().describe("only this community's notifications"),
  unread: QueryFlag.optional().describe("true: only unread ones; false: only read ones"),
  limit: wholeNumberParam(1, 100).default(20),
  cursor: z.string().max(200).optional().describe("next_cursor of the previous page"),
});

const Notification = z
  .object({
    id: z.guid(),
    tenant_id: z.guid(),
    type: z.string(),
    title: z.string(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()),
    is_read: z.boolean(),
    created_at: z.string().describe("RFC 3339, to the microsecond"),
  })
  .openapi("Notification");

const InboxPage = z
  .object({ notifications: z.array(Notification), next_cursor: z.string().nullable() })
  .openapi("Inbox");

const UnreadQuery = InboxQuery.pick({ tenant_id: true });

const UnreadCount = z
  .object({
    unread: z.number().int().describe(`how many are unread, at most ${UNREAD_COUNT_MAX}`),
    capped: z.boolean().describe(`more than ${UNREAD_COUNT_MAX} are unread ("${UNREAD_COUNT_MAX}+")`),
  })
  .openapi("UnreadCount");

const MarkRead = z
  .object({
    ids: z.array(Id).min(1).max(100).optional().describe("notifications of the caller's; others are left"),
    all: z
      .literal(true, { error: "true, or left out" })
      .optional()
      .describe("every unread notification of the caller's, instead of ids"),
    tenant_id: Id.optional().describe("with all: only this community's"),
  })
  .strict()
  .refine((b) => (b.ids === undefined) !== (b.all === undefined), { error: "either ids or all" })
  .refine((b) => b.tenant_id === undefined || b.all !== undefined, {
    error: "goes with all",
    path: ["tenant_id"],
  })
  .openapi("MarkNotificationsRead");

const Marked = z
  .object({
    marked: z.number().int().describe("how many of them were unread until now"),
    more: z
      .boolean()
      .describe(`with all: ${MARK_ALL_MAX} were marked, the most one call marks; call again for the rest`),
  })
  .openapi("NotificationsMarked");

export const notifications = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
// Reads count with the feed's (they reach the database every call), the marking with the writes.
notifications.use("/", requireUser, rateLimit("READ_RATE_LIMITER"));
notifications.use("/unread-count", requireUser, rateLimit("READ_RATE_LIMITER"));
notifications.use("/read", requireUser, rateLimit("WRITE_RATE_LIMITER"));
notifications
  .openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listNotifications",
      security: USER_SECURITY,
      summary: "The caller's notifications from every community, newest first, keyset-paged",
      request: { query: InboxQuery },
      responses: {
        200: jsonResponse(InboxPage, "One page"),
        ...errorResponses(400, 401, 429, 503),
      },
    }),
    async (c) => {
      const user = currentUser(c);
      const { tenant_id, unread, limit, cursor } = c.req.valid("query");
      // Unsigned: the list is the caller's own rows, so a forged cursor only moves within them.
      const after = createdAfter(cursor);
      const page = await timed(c, () =>
        readInbox(getSql(c), user.id, { tenantId: tenant_id, unread, after, limit }),
      );
      if (!page.ok) throw dbFailure(c, page.error, "notifications are unavailable, try again shortly");
      const last = page.value.more ? page.value.notifications.at(-1) : undefined;
      return c.json(
        {
          notifications: page.value.notifications,
          next_cursor: last ? createdCursor(last) : null,
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/unread-count",
      operationId: "countUnreadNotifications",
      security: USER_SECURITY,
      summary: "How many of the caller's notifications are unread, for a badge",
      request: { query: UnreadQuery },
      responses: {
        200: jsonResponse(UnreadCount, "The count"),
        ...errorResponses(400, 401, 429, 503),
      },
    }),
    async (c) => {
      const user = currentUser(c);
      const { tenant_id } = c.req.valid("query");
      const count = await timed(c, () => countUnread(getSql(c), user.id, tenant_id));
      if (!count.ok) throw dbFailure(c, count.error, "notifications are unavailable, try again shortly");
      return c.json(count.value, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/read",
      operationId: "markNotificationsRead",
      security: USER_SECURITY,
      summary: "Mark some of the caller's notifications read, or all of them",
      request: { body: { content: { "application/json": { schema: MarkRead } }, required: true } },
      responses: {
        200: jsonResponse(Marked, "Marked"),
        ...errorResponses(400, 401, 413, 415, 429, 503),
      },
    }),
    async (c) => {
      const user = currentUser(c);
      const { ids, tenant_id } = c.req.valid("json");
      const marked = await timed(c, () =>
        ids ? markRead(getSql(c), user.id, ids) : markAllRead(getSql(c), user.id, tenant_id),
      );
      if (!marked.ok) throw dbFailure(c, marked.error, "notifications are unavailable, try again shortly");
      return c.json(marked.value, 200);
    },
  );
