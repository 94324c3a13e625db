import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { AUDIT_ACTIONS, AUDIT_ACTORS } from "../../../../db/schema/audit-events";
import { DENIALS, type Refusals, refusalError, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { wholeNumberParam } from "../../../common/numbers";
import { errorResponses, jsonResponse, USER_SECURITY } from "../../../common/openapi";
import { rateLimit } from "../../../common/rate-limit";
import { type AuditEntry, type AuditRefusal, listAudit } from "../audit/queries";
import type { HonoEnv } from "../env";
import { currentUser, requireUser } from "../middleware/auth";
import { getSql, timed } from "../middleware/request";
import { TENANT_PARAMETERS } from "../middleware/tenant";

/**
 * The community's audit log, to its admins: who changed its members, who removed or edited its
 * members' content, and what operators changed of it. Operators read any community's at
 * GET /admin/tenants/{id}/audit-log, with the same page.
 */

const AuditEntrySchema = z
  .object({
    id: z.guid(),
    action: z
      .enum(AUDIT_ACTIONS)
      .describe(
        "tenant.* an operator's change of the community; member.* a membership added, changed, removed or left; *.removed a member's post, event or comment taken down by someone else, *.edited a member's post or event edited by an admin (its author's own deletions and edits are not recorded)",
      ),
    actor: z
      .object({
        kind: z.enum(AUDIT_ACTORS),
        user_id: z
          .guid()
          .nullable()
          .describe("the member who acted; null for an operator, and once that user is erased"),
      })
      .openapi("AuditActor"),
    member_id: z
      .guid()
      .nullable()
      .describe("the member a member.* action concerns; null once that user is erased"),
    content_id: z
      .guid()
      .nullable()
      .describe("the post, event or comment a *.removed or *.edited action concerns"),
    changes: z
      .record(z.string(), z.object({ from: z.unknown(), to: z.unknown() }))
      .nullable()
      .describe(
        "each field changed, from and to (null for what did not exist); null where nothing is compared",
      ),
    request_id: z.string().nullable().describe("the X-Request-Id of the request that made the change"),
    job_id: z
      .guid()
      .nullable()
      .describe(
        "the job that made a change through the queue (an edit); the enqueue request's log line names it",
      ),
    created_at: z.string(),
  })
  .openapi("AuditEntry");

export const AuditPage = z
  .object({ entries: z.array(AuditEntrySchema), next_cursor: z.string().nullable() })
  .openapi("AuditPage");

export const AuditPageQuery = z.object({
  limit: wholeNumberParam(1, 200).default(50),
  cursor: Id.optional().describe("next_cursor of the previous page"),
});

/** One page of the log as the API answers it. */
export function auditPage(page: { entries: AuditEntry[]; more: boolean }) {
  const { entries, more } = page;
  return { entries, next_cursor: more ? (entries.at(-1)?.id ?? null) : null };
}

export const AUDIT_REFUSALS: Refusals<AuditRefusal> = {
  no_tenant: ["not_found", "no such tenant"],
  not_member: DENIALS.not_member,
  not_admin: ["forbidden", "only the community's admins can read its audit log"],
};

export const audit = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
audit.use("*", requireUser);
audit.on("GET", "/", rateLimit("READ_RATE_LIMITER"));

audit.openapi(
  createRoute({
    method: "get",
    path: "/",
    operationId: "listAuditLog",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "The community's audit log, newest first, keyset-paged, to its admins",
    description:
      "Who added, changed or removed members, who left, who took down a member's post, event or comment or edited their post or event, and what operators changed of the community. Ids only: no content, no emails. 403 for anyone but the community's admins (is_admin, or an owner or admin role), checked in the query.",
    request: { query: AuditPageQuery },
    responses: {
      200: jsonResponse(AuditPage, "One page"),
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const reader = { kind: "member" as const, userId: currentUser(c).id };
    const result = await timed(c, () =>
      listAudit(getSql(c), c.get("tenant").id, reader, { after: cursor, limit }),
    );
    if (!result.ok) throw refusalError(c, result.error, AUDIT_REFUSALS);
    return c.json(auditPage(result.value), 200);
  },
);
