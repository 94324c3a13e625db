import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { MEMBER_ROLES } from "../../../../db/schema/tenant-users";
import { DENIALS, dbFailure, type Refusals, refusalError, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { wholeNumberParam } from "../../../common/numbers";
import { errorResponses, jsonResponse, USER_SECURITY } from "../../../common/openapi";
import { QueryFlag } from "../../../common/pages";
import { rateLimit } from "../../../common/rate-limit";
import { listMembers, type MemberRefusal, manageMember } from "../auth/membership";
import type { HonoEnv } from "../env";
import { currentUser, requireUser } from "../middleware/auth";
import { getDb, memberCache, timed } from "../middleware/request";
import { TENANT_PARAMETERS } from "../middleware/tenant";

/**
 * The resolved community's members, as its members see them, and as its admins manage them:
 * roles changed and members removed by the community's own admins, not only by operators
 * (PUT and DELETE /admin/tenants/{id}/members/{userId}), which add members.
 */

const Role = z.enum(MEMBER_ROLES);

/** One of a member's interests: in lower case, so a search finds it however either was typed. */
export const Interest = z.string().trim().min(1).max(50).toLowerCase();

/** What a member says of themselves in a community, as its members see it. */
export const MemberProfile = {
  expertise_level: z
    .string()
    .nullable()
    .describe("in their own words (PATCH /v1/me/communities/{tenant_id})"),
  interests: z.array(z.string()).describe("in lower case (PATCH /v1/me/communities/{tenant_id})"),
};

/** A members list's filter by interest. */
export const InterestFilter = Interest.optional().describe(
  "only members who named this interest, whatever its case",
);

const CommunityMember = z
  .object({
    user_id: z.guid(),
    display_name: z.string().nullable(),
    role: Role,
    is_admin: z.boolean().describe("the older admin flag, which operators set; a role change clears it"),
    ...MemberProfile,
  })
  .openapi("CommunityMember");

const CommunityMemberPage = z
  .object({ members: z.array(CommunityMember), next_cursor: z.string().nullable() })
  .openapi("CommunityMemberPage");

const RoleChange = z
  .object({
    role: Role.describe(
      "owner, admin (both run the community), moderator (takes down anyone's posts and events) or member; only an owner makes or changes an owner",
    ),
  })
  .strict()
  .openapi("RoleChange");

const params = z.object({ user_id: Id });

const REFUSALS: Refusals<MemberRefusal> = {
  no_tenant: ["not_found", "no such community"],
  not_member: DENIALS.not_member,
  not_admin: ["forbidden", "only community admins can change or remove other members"],
  no_such_member: ["not_found", "no such member of this community"],
  owner_only: ["forbidden", "only an owner can change or remove an owner, or make one"],
  last_owner: [
    "conflict",
    "the community would be left without an owner: another member must be made an owner first",
  ],
  last_admin: [
    "conflict",
    "the community would be left without an admin: another member must be made an admin first",
  ],
};

export const members = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
members.use("*", requireUser);
// Per method and path, as the content routes register theirs (content.ts says why).
members.on("GET", "/", rateLimit("READ_RATE_LIMITER"));
members.on(["PATCH", "DELETE"], "/:user_id", rateLimit("WRITE_RATE_LIMITER"));

members.openapi(
  createRoute({
    method: "get",
    path: "/",
    operationId: "listCommunityMembers",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "The community's members in user-id order, keyset-paged, to its members",
    description:
      "No emails: members see each other's display names, roles, and what each says of themselves here (expertise, interests). 403 for anyone not a member, checked in the query, so a member removed a moment ago is refused at once.",
    request: {
      query: z.object({
        admin: QueryFlag.optional().describe(
          "true: only those who run the community (is_admin, or an owner or admin role); false: only the others",
        ),
        interest: InterestFilter,
        limit: wholeNumberParam(1, 500).default(100),
        cursor: Id.optional().describe("next_cursor of the previous page"),
      }),
    },
    responses: {
      200: jsonResponse(CommunityMemberPage, "One page"),
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  async (c) => {
    const { limit, cursor, admin, interest } = c.req.valid("query");
    const viewer = currentUser(c).id;
    const result = await timed(c, () =>
      listMembers(getDb(c), c.get("tenant").id, { after: cursor, limit, admin, interest, viewer }),
    );
    if (!result.ok) throw dbFailure(c, result.error);
    if (!result.value) throw refusalError(c, "not_member", REFUSALS);
    const { members: rows, more } = result.value;
    // Members are no operators: everything but the email.
    const page = rows.map(({ email: _, ...member }) => member);
    return c.json({ members: page, next_cursor: more ? (page.at(-1)?.user_id ?? null) : null }, 200);
  },
);

members.openapi(
  createRoute({
    method: "patch",
    path: "/{user_id}",
    operationId: "changeCommunityMemberRole",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary: "Change a member's role: the community's admins",
    description:
      "The role replaces the older is_admin flag (cleared), so it alone says what the member may do. Only an owner changes an owner or makes one (403 for other admins). 409 when no owner or no admin would be left (the last owner, or the last admin, stepping down). The member's cached membership goes as for an operator's change: their own requests see it within 30 s plus KV propagation.",
    request: {
      params,
      body: { content: { "application/json": { schema: RoleChange } }, required: true },
    },
    responses: {
      200: jsonResponse(
        CommunityMember.pick({ user_id: true, role: true, is_admin: true }).openapi("ChangedMember"),
        "The membership as it now is",
      ),
      ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503),
    },
  }),
  async (c) => {
    const { user_id } = c.req.valid("param");
    const { role } = c.req.valid("json");
    const change = {
      tenantId: c.get("tenant").id,
      actorId: currentUser(c).id,
      targetId: user_id,
      role,
      requestId: c.get("requestId"),
    };
    const result = await timed(c, () => manageMember(getDb(c), memberCache(c), change));
    if (!result.ok) throw refusalError(c, result.error, REFUSALS);
    return c.json({ user_id, role, is_admin: false }, 200);
  },
);

members.openapi(
  createRoute({
    method: "delete",
    path: "/{user_id}",
    operationId: "removeCommunityMember",
    security: USER_SECURITY,
    parameters: TENANT_PARAMETERS,
    summary:
      "Remove a member: the community's admins (an owner only by an owner); anyone may remove themselves",
    description:
      "Removing yourself is leaving (as DELETE /v1/me/communities/{tenant_id}). 409 when no owner or no admin would be left. The removal reaches the member's own requests as an operator's does.",
    request: { params },
    responses: {
      204: { description: "Removed" },
      ...errorResponses(400, 401, 403, 404, 409, 429, 503),
    },
  }),
  async (c) => {
    const { user_id } = c.req.valid("param");
    const change = {
      tenantId: c.get("tenant").id,
      actorId: currentUser(c).id,
      targetId: user_id,
      role: null,
      requestId: c.get("requestId"),
    };
    const result = await timed(c, () => manageMember(getDb(c), memberCache(c), change));
    if (!result.ok) throw refusalError(c, result.error, REFUSALS);
    return c.body(null, 204);
  },
);
