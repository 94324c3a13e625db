import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../../../common/errors";
import { dbFailure, validationHook } from "../../../common/http";
import { errorResponses, jsonResponse, USER_SECURITY } from "../../../common/openapi";
import { rateLimit } from "../../../common/rate-limit";
import type { HonoEnv } from "../env";
import { type ExportPlan, type Section, writeExport } from "../exports/stream";
import { currentUser, requireUser } from "../middleware/auth";
import { getKeysetSql, getSql, timed } from "../middleware/request";
import { COMMUNITY_SECTIONS } from "../tenancy/export";
import { type Audience, EXPORT_SECTIONS, exportHead, userExport } from "../users/export";

/**
 * A user's data as one JSON document (users/export.ts): for an operator answering an access
 * request (GET /admin/users/{id}/export), or for the member themselves (GET /v1/me/export).
 */

const Rows = z.array(z.record(z.string(), z.unknown()));

/**
 * An export's sections as its document lists them: one array of rows for each section the
 * export writes, named from the same declarations, so a section added there is documented here
 * (`notes` describes some; `optional` those some readers are not given).
 */
function sectionsOf(sections: readonly Section[], notes: Record<string, string>, optional: string[] = []) {
  return Object.fromEntries(
    sections.map(({ name }) => {
      const rows = notes[name] ? Rows.describe(notes[name]) : Rows;
      return [name, optional.includes(name) ? rows.optional() : rows];
    }),
  );
}

const ENDING = {
  not_included: z.record(z.string(), z.string()).describe("what the export leaves out, and why"),
  complete: z.literal(true),
};

export const UserExport = z
  .object({
    exported_at: z.string(),
    user: z.record(z.string(), z.unknown()),
    feed_selection: z.record(z.string(), z.unknown()).nullable(),
    ...sectionsOf(
      EXPORT_SECTIONS,
      {
        post_likes: "the posts the user likes",
        post_comments: "the user's comments on posts",
        journey_activities: "the activities of the journeys above",
        audit_log_as_actor: "the community audit log's entries of what the user did",
        audit_log_as_member: "its entries of what was done to the user's memberships, without who did it",
        dead_jobs: "in an operator's export only",
      },
      ["dead_jobs"],
    ),
    ...ENDING,
  })
  .openapi("UserExport");

export const TenantExport = z
  .object({
    exported_at: z.string(),
    tenant: z.record(z.string(), z.unknown()),
    ...sectionsOf(COMMUNITY_SECTIONS, {
      members: "memberships, each with the member's email and display name",
      posts: "live posts, newest first",
      post_shares: "where the community's posts are shared",
      events: "live events, soonest first",
      event_shares: "where the community's events are shared",
      journeys: "public journeys, newest first",
      journey_activities: "the activities of the journeys above",
      audit_log: "the community's audit log, oldest first",
    }),
    ...ENDING,
  })
  .openapi("TenantExport");

/**
 * An export (exports/stream.ts) as a streamed answer. Its opening is read before anything is
 * sent, so a database that is down answers 503 as any request's would; the rest is written as
 * the client reads it.
 */
export function streamedExport(
  c: Context<HonoEnv>,
  plan: ExportPlan,
  filename: string,
  context: Record<string, unknown>,
): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  c.executionCtx.waitUntil(
    writeExport(getKeysetSql(c), plan, writable, { request_id: c.get("requestId"), ...context }),
  );
  return c.body(readable, 200, {
    "content-type": "application/json; charset=UTF-8",
    "content-disposition": `attachment; filename="${filename}"`,
  });
}

/** The user's export as a streamed answer, or null when there is no such user. */
export async function exportAnswer(
  c: Context<HonoEnv>,
  userId: string,
  audience: Audience,
): Promise<Response | null> {
  const head = await timed(c, () => exportHead(getSql(c), userId));
  if (!head.ok) throw dbFailure(c, head.error);
  if (!head.value) return null;
  return streamedExport(c, userExport(userId, head.value, audience), `user-${userId}.json`, {
    audience,
    user_id: userId,
  });
}

export const myExport = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
myExport.use("*", requireUser);
myExport.on("GET", "/", rateLimit("EXPORT_RATE_LIMITER"));

myExport.openapi(
  createRoute({
    method: "get",
    path: "/",
    operationId: "exportMyData",
    security: USER_SECURITY,
    summary: "Everything the platform holds about the caller, as one JSON document",
    description:
      "As an operator's export of the user (GET /admin/users/{id}/export), but for the records of failed jobs, which are the operators' (not_included says so). Streamed; it ends with \"complete\": true. Twice a minute per user (429 with Retry-After).",
    responses: {
      200: jsonResponse(UserExport, "The export"),
      ...errorResponses(401, 404, 429, 503),
    },
  }),
  async (c) => {
    const answer = await exportAnswer(c, currentUser(c).id, "member");
    if (!answer) throw new ApiError("not_found", "no such user: the platform holds nothing about you");
    return answer;
  },
);
