import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { MEMBER_ROLES } from "../../../../db/schema/tenant-users";
import { SLUG_PATTERN, TENANT_NAME_MAX_LENGTH } from "../../../../db/schema/tenants";
import { ApiError } from "../../../common/errors";
import { dbFailure, refusalError, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { boundedJsonObject, NAMES_A_FIELD, WebUrl } from "../../../common/jobs";
import { wholeNumberParam } from "../../../common/numbers";
import { ADMIN_SECURITY, errorResponses, jsonResponse } from "../../../common/openapi";
import { QueryFlag } from "../../../common/pages";
import { listAudit } from "../audit/queries";
import {
  deleteUser,
  erasedAt,
  findUser,
  listMembers,
  listUserMemberships,
  type MemberWriteError,
  removeMember,
  type UserWriteError,
  upsertMember,
  upsertUser,
} from "../auth/membership";
import type { HonoEnv } from "../env";
import { getDb, getSessionDb, getSql, memberCache, timed } from "../middleware/request";
import {
  type AdminError,
  createTenant,
  type ErasureError,
  requestErasure,
  updateTenant,
} from "../tenancy/admin";
import { tenantCacheFor } from "../tenancy/cache";
import { communityExport, tenantExportHead } from "../tenancy/export";
import { lookupKey, parsePlatform, parseReserved } from "../tenancy/host";
import { findTenantById, listTenants, type TenantRow } from "../tenancy/queries";
import { AUDIT_REFUSALS, AuditPage, AuditPageQuery, auditPage } from "./audit";
import { TenantSchema } from "./context";
import { exportAnswer, streamedExport, TenantExport, UserExport } from "./export";
import { InterestFilter, MemberProfile } from "./members";

const color = z
  .string()
  .regex(/^#[0-9a-fA-F]{6}$/, "a colour as #rrggbb")
  .nullable();
const domain = z
  .string()
  .max(253)
  // Internationalised names come as the A-labels browsers send in Host (xn--…), TLDs included.
  .regex(
    /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+([a-zA-Z]{2,63}|xn--[a-zA-Z0-9-]{1,59})$/,
    "a host name (internationalised names as xn-- A-labels)",
  )
  .nullable();

/**
 * Settings ride in every cached tenant entry and in every /v1/context answer, so they are capped;
 * what the in-isolate cache keeps of them is bounded in bytes too (cache.ts l1MaxBytes).
 */
const MAX_SETTINGS_BYTES = 16 * 1024;

const slug = z.string().regex(new RegExp(SLUG_PATTERN), "a DNS label: a-z, 0-9 and -, at most 63");
const TenantFields = z
  .object({
    slug,
    name: z.string().trim().min(1).max(TENANT_NAME_MAX_LENGTH),
    domain,
    logo_url: WebUrl.nullable(),
    primary_color: color,
    secondary_color: color,
    settings: boundedJsonObject(MAX_SETTINGS_BYTES).describe(
      "public: /v1/context serves it to anyone, cacheable for 60 s; never secrets",
    ),
    is_active: z.boolean(),
  })
  .strict();

const CreateTenant = TenantFields.partial().required({ slug: true, name: true }).openapi("CreateTenant");
const UpdateTenant = TenantFields.partial()
  .refine(...NAMES_A_FIELD)
  .openapi("UpdateTenant");
const AdminTenant = TenantSchema.extend({
  is_active: z.boolean(),
  updated_at: z.string(),
  erasure_requested_at: z
    .string()
    .nullable()
    .describe("when its erasure was asked for (POST /admin/tenants/{id}/erasure): it goes within minutes"),
}).openapi("AdminTenant");
const ErasureRequest = z
  .object({ slug: slug.describe("the community's slug, as the confirmation that this is the one") })
  .strict()
  .openapi("ErasureRequest");
const Member = z
  .object({ role: z.enum(MEMBER_ROLES), is_admin: z.boolean() })
  .strict()
  .openapi("MemberFields");
const IdParams = z.object({ id: Id });
const TenantListQuery = z.object({
  slug: slug.optional().describe("only the tenant with this slug"),
  domain: z.string().max(253).optional().describe("only the tenant with this custom domain"),
  is_active: QueryFlag.optional().describe("true: only active tenants; false: only deactivated ones"),
  limit: wholeNumberParam(1, 200).default(50),
  cursor: slug.optional().describe("next_cursor of the previous page"),
});
const TenantPage = z
  .object({ tenants: z.array(AdminTenant), next_cursor: z.string().nullable() })
  .openapi("TenantPage");
const MemberPageQuery = z.object({
  admin: QueryFlag.optional().describe(
    "true: only admin memberships (is_admin, or an owner or admin role); false: only the others",
  ),
  limit: wholeNumberParam(1, 500).default(100),
  cursor: Id.optional().describe("next_cursor of the previous page"),
});
const TenantMemberPageQuery = MemberPageQuery.extend({ interest: InterestFilter });
const MemberPage = z
  .object({
    members: z.array(
      z.object({
        user_id: z.guid(),
        email: z.string(),
        display_name: z.string().nullable(),
        role: z.enum(MEMBER_ROLES),
        is_admin: z.boolean(),
        ...MemberProfile,
      }),
    ),
    next_cursor: z.string().nullable(),
  })
  .openapi("MemberPage");
const UserMembershipPage = z
  .object({
    memberships: z.array(
      z.object({
        tenant_id: z.guid(),
        slug: z.string(),
        name: z.string(),
        is_active: z.boolean(),
        role: z.enum(MEMBER_ROLES),
        is_admin: z.boolean(),
      }),
    ),
    next_cursor: z.string().nullable(),
  })
  .openapi("UserMembershipPage");
const MemberParams = z.object({ id: Id, userId: Id });
/** How far a provider's clock may run ahead of ours. */
const PROVIDER_CLOCK_SKEW_MS = 60 * 60 * 1000;
/**
 * A provider's updated_at as its webhooks write it, to the microsecond: what orders its calls.
 * Not far in the future: every real change after such a time would be skipped as older.
 */
export const ProviderTime = z.iso
  .datetime({ offset: true, error: "a date-time with its offset (ISO 8601)" })
  .refine((t) => Date.parse(t) <= Date.now() + PROVIDER_CLOCK_SKEW_MS, { error: "a time not in the future" });
/**
 * A user's email, from the admin API or the identity provider's hook alike (none is "required"),
 * lower-cased as users stores it (users_email_lowercase) and finds it.
 */
export const UserEmail = z
  .email({ error: (issue) => (issue.input === undefined ? undefined : "an email address") })
  .toLowerCase()
  .max(320, { error: "an email address" });
const UserFields = z
  .object({
    email: UserEmail,
    display_name: z.string().trim().min(1).max(200).nullable().optional(),
    updated_at: ProviderTime.nullable()
      .optional()
      .describe(
        "The identity provider's time of this version of the user (its updated_at): a PUT carrying an older time than one already saved changes nothing and answers the user as saved, so webhooks that overtake each other leave the newest. Without it the PUT is applied as it comes.",
      ),
  })
  .strict()
  .openapi("UserFields");
const ErasedUser = z
  .object({
    tenant_ids: z.array(z.guid()).describe("the communities the user was a member of"),
    dead_jobs: z.number().int().describe("dead jobs of theirs deleted with them"),
  })
  .openapi("ErasedUser");
const AdminUser = z
  .object({ id: z.guid(), email: z.string(), display_name: z.string().nullable() })
  .openapi("AdminUser");

function present(row: TenantRow): z.infer<typeof AdminTenant> {
  return {
    ...row.tenant,
    is_active: row.isActive,
    updated_at: row.updatedAt,
    erasure_requested_at: row.erasureRequestedAt ?? null,
  };
}

/** Maps an admin route's failure to its answer: 409, 404 (`notFound` says what), or dbFailure's. */
export function fail(
  c: Context<HonoEnv>,
  e: AdminError | ErasureError | MemberWriteError | UserWriteError,
  notFound = "no such tenant",
): never {
  if (e.kind === "erasing") {
    throw new ApiError(
      "conflict",
      "this tenant is being erased: it is neither changed nor exported any more, and goes within minutes",
    );
  }
  if (e.kind === "active") {
    throw new ApiError(
      "conflict",
      "an active tenant is not erased: deactivate it first (DELETE /admin/tenants/{id})",
    );
  }
  if (e.kind === "slug_mismatch") {
    throw new ApiError("validation_failed", "slug: not this tenant's; give its slug to confirm the erasure");
  }
  if (e.kind === "conflict") {
    const who = e.field === "email" ? "user" : "tenant";
    throw new ApiError("conflict", `another ${who} already has this ${e.field}`);
  }
  if (e.kind === "not_found") throw new ApiError("not_found", notFound);
  if (e.kind === "erased") {
    throw new ApiError("conflict", "this user was erased, and an erased user is not saved again");
  }
  throw dbFailure(c, e);
}

/** 404 for a user not here; support's question after a deletion request: was it carried out, and when? */
async function noSuchUser(c: Context<HonoEnv>, id: string): Promise<never> {
  const erased = await timed(c, () => erasedAt(getDb(c), id));
  const when = erased.ok ? erased.value : undefined;
  fail(c, { kind: "not_found" }, when ? `no such user: erased at ${when}` : "no such user");
}

/** A reserved label (RESERVED_SUBDOMAINS) never resolves as a slug, so no tenant may take it. */
function refuseReservedSlug(slug: string | undefined, env: HonoEnv["Bindings"]): void {
  if (slug !== undefined && parseReserved(env.RESERVED_SUBDOMAINS).has(slug)) {
    throw new ApiError(
      "validation_failed",
      `slug: ${slug} is reserved (RESERVED_SUBDOMAINS) and would never resolve`,
    );
  }
}

/**
 * A custom domain must be one the resolver takes as a custom domain: the platform domain and its
 * subdomains resolve by slug first, so such a "domain" would never reach its tenant, and would
 * serve whichever tenant owns that subdomain's slug instead.
 */
function refuseUnreachableDomain(domain: string | null | undefined, env: HonoEnv["Bindings"]): void {
  if (!domain) return;
  const platform = parsePlatform(env.PLATFORM_DOMAIN);
  const key = lookupKey({ named: undefined, host: domain }, platform, parseReserved(env.RESERVED_SUBDOMAINS));
  if (!key.ok || key.value.kind !== "host") {
    throw new ApiError(
      "validation_failed",
      `domain: ${platform} and its subdomains name tenants by slug; a custom domain must be outside it`,
    );
  }
}

export const admin = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook })
  .openapi(
    createRoute({
      method: "get",
      path: "/tenants",
      operationId: "listTenants",
      summary:
        "Tenants in slug order, active or not (or only one or the other), keyset-paged; or the one with a slug or domain",
      security: ADMIN_SECURITY,
      request: { query: TenantListQuery },
      responses: { 200: jsonResponse(TenantPage, "One page"), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => {
      const { cursor, is_active, ...query } = c.req.valid("query");
      const result = await timed(c, () =>
        listTenants(getDb(c), { ...query, isActive: is_active, after: cursor }),
      );
      if (!result.ok) fail(c, result.error);
      const { rows, more } = result.value;
      return c.json(
        { tenants: rows.map(present), next_cursor: more ? (rows.at(-1)?.tenant.slug ?? null) : null },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/tenants/{id}",
      operationId: "getTenant",
      summary: "Read a tenant, active or not, from the database",
      security: ADMIN_SECURITY,
      request: { params: IdParams },
      responses: {
        200: jsonResponse(AdminTenant, "The tenant"),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const result = await timed(c, () => findTenantById(getDb(c), c.req.valid("param").id));
      if (!result.ok) fail(c, result.error);
      if (!result.value) fail(c, { kind: "not_found" });
      return c.json(present(result.value), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/tenants/{id}/members",
      operationId: "listTenantMembers",
      summary: "A tenant's members in user-id order, keyset-paged",
      security: ADMIN_SECURITY,
      request: { params: IdParams, query: TenantMemberPageQuery },
      responses: {
        200: jsonResponse(MemberPage, "One page"),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { limit, cursor, admin, interest } = c.req.valid("query");
      const result = await timed(c, () =>
        listMembers(getDb(c), c.req.valid("param").id, { after: cursor, limit, admin, interest }),
      );
      if (!result.ok) fail(c, result.error);
      if (!result.value) fail(c, { kind: "not_found" });
      const { members, more } = result.value;
      return c.json({ members, next_cursor: more ? (members.at(-1)?.user_id ?? null) : null }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/tenants/{id}/audit-log",
      operationId: "listTenantAuditLog",
      summary: "A tenant's audit log, newest first, keyset-paged (inactive tenants too)",
      description:
        "What operators changed of it and of its members, and what its members' admins and moderators did (GET /v1/audit-log, which its admins read). Ids only; erased users' ids are gone from it, and the log goes with the tenant's erasure.",
      security: ADMIN_SECURITY,
      request: { params: IdParams, query: AuditPageQuery },
      responses: {
        200: jsonResponse(AuditPage, "One page"),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      const result = await timed(c, () =>
        listAudit(getSql(c), c.req.valid("param").id, { kind: "operator" }, { after: cursor, limit }),
      );
      if (!result.ok) throw refusalError(c, result.error, AUDIT_REFUSALS);
      return c.json(auditPage(result.value), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/tenants/{id}/export",
      operationId: "exportTenant",
      summary: "Everything a community holds, for the day it leaves (before its erasure)",
      description:
        'One JSON object: the tenant, its members (with their emails), its live posts with their comments, likes and shares, its live events with their answers and shares, its public journeys with their activities, its analytics events and its audit log, each row as its table holds it. Streamed a page at a time; it ends with "complete": true, and a failure part way cuts the stream off, so a whole export is valid JSON and a cut one is not. not_included names what is left out, and why. Deactivated tenants too; 409 once its erasure was asked for (export first), 404 once erased.',
      security: ADMIN_SECURITY,
      request: { params: IdParams },
      responses: {
        200: jsonResponse(TenantExport, "The export"),
        ...errorResponses(400, 401, 403, 404, 409, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const head = await timed(c, () => tenantExportHead(getSql(c), id));
      if (!head.ok) fail(c, head.error);
      return streamedExport(c, communityExport(id, head.value), `tenant-${id}.json`, { tenant_id: id });
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/tenants",
      operationId: "createTenant",
      summary: "Create a tenant",
      security: ADMIN_SECURITY,
      request: { body: { content: { "application/json": { schema: CreateTenant } }, required: true } },
      responses: {
        201: jsonResponse(AdminTenant, "Created"),
        ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      refuseReservedSlug(body.slug, c.env);
      refuseUnreachableDomain(body.domain, c.env);
      const result = await timed(c, () =>
        createTenant(getSessionDb(c), c.env.TENANT_CACHE, tenantCacheFor(c.env), body, c.get("requestId")),
      );
      if (!result.ok) fail(c, result.error);
      return c.json(present(result.value), 201);
    },
  )
  .openapi(
    createRoute({
      method: "patch",
      path: "/tenants/{id}",
      operationId: "updateTenant",
      summary: "Update a tenant (slug and domain changes included); is_active false deactivates it",
      security: ADMIN_SECURITY,
      request: {
        params: IdParams,
        body: { content: { "application/json": { schema: UpdateTenant } }, required: true },
      },
      responses: {
        200: jsonResponse(AdminTenant, "Updated"),
        ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503),
      },
    }),
    async (c) => {
      const fields = c.req.valid("json");
      refuseReservedSlug(fields.slug, c.env);
      refuseUnreachableDomain(fields.domain, c.env);
      const result = await timed(c, () =>
        updateTenant(
          getSessionDb(c),
          c.env.TENANT_CACHE,
          tenantCacheFor(c.env),
          c.req.valid("param").id,
          fields,
          c.get("requestId"),
        ),
      );
      if (!result.ok) fail(c, result.error);
      return c.json(present(result.value), 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/tenants/{id}",
      operationId: "deactivateTenant",
      summary: "Deactivate a tenant (its data stays); 409 once its erasure was asked for",
      security: ADMIN_SECURITY,
      request: { params: IdParams },
      responses: {
        200: jsonResponse(AdminTenant, "Deactivated"),
        ...errorResponses(400, 401, 403, 404, 409, 429, 503),
      },
    }),
    async (c) => {
      const result = await timed(c, () =>
        updateTenant(
          getSessionDb(c),
          c.env.TENANT_CACHE,
          tenantCacheFor(c.env),
          c.req.valid("param").id,
          { is_active: false },
          c.get("requestId"),
        ),
      );
      if (!result.ok) fail(c, result.error);
      return c.json(present(result.value), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/tenants/{id}/erasure",
      operationId: "eraseTenant",
      summary:
        "Erase a deactivated tenant and everything of its community, for good: its posts, events, members, their notifications and answers, analytics and dead jobs; journeys stay their users'. The batch worker's cron carries it out within minutes; the tenant is then 404 here, and its slug and domain free",
      description:
        "Take its data first, if it wants it (GET /admin/tenants/{id}/export): from this call on, its export answers 409.",
      security: ADMIN_SECURITY,
      request: {
        params: IdParams,
        body: { content: { "application/json": { schema: ErasureRequest } }, required: true },
      },
      responses: {
        202: jsonResponse(AdminTenant, "Its erasure is asked for (asking again changes nothing)"),
        ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const result = await timed(c, () =>
        requestErasure(getSessionDb(c), id, c.req.valid("json").slug, c.get("requestId")),
      );
      if (!result.ok) fail(c, result.error);
      return c.json(present(result.value), 202);
    },
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/tenants/{id}/members/{userId}",
      operationId: "putTenantMember",
      summary: "Add a member or change their role",
      security: ADMIN_SECURITY,
      request: {
        params: MemberParams,
        body: { content: { "application/json": { schema: Member } }, required: true },
      },
      responses: {
        200: jsonResponse(Member, "Saved"),
        ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503),
      },
    }),
    async (c) => {
      const { id, userId } = c.req.valid("param");
      const body = c.req.valid("json");
      const result = await timed(c, () =>
        upsertMember(getSql(c), memberCache(c), {
          tenantId: id,
          userId,
          fields: body,
          requestId: c.get("requestId"),
        }),
      );
      if (!result.ok) fail(c, result.error, "no such tenant or user");
      return c.json(body, 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/tenants/{id}/members/{userId}",
      operationId: "removeTenantMember",
      summary: "Remove a member",
      security: ADMIN_SECURITY,
      request: { params: MemberParams },
      responses: { 204: { description: "Removed" }, ...errorResponses(400, 401, 403, 404, 429, 503) },
    }),
    async (c) => {
      const { id, userId } = c.req.valid("param");
      const result = await timed(c, () =>
        removeMember(getSql(c), memberCache(c), { tenantId: id, userId, requestId: c.get("requestId") }),
      );
      if (!result.ok) fail(c, result.error, "no such membership");
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/users/{id}",
      operationId: "putUser",
      summary: "Create or update a user (id: the identity provider's user id, the token's sub)",
      description:
        "409 for an email another user has, and for a user erased here: an erased user's id is not saved again, so a sign-up or change that arrives after the erasure leaves them erased.",
      security: ADMIN_SECURITY,
      request: {
        params: IdParams,
        body: { content: { "application/json": { schema: UserFields } }, required: true },
      },
      responses: {
        200: jsonResponse(AdminUser, "Saved"),
        ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503),
      },
    }),
    async (c) => {
      const { email, display_name, updated_at } = c.req.valid("json");
      const result = await timed(c, () =>
        upsertUser(getDb(c), memberCache(c), c.req.valid("param").id, {
          email,
          display_name,
          changed_at: updated_at,
        }),
      );
      if (!result.ok) fail(c, result.error);
      return c.json(result.value.user, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/users",
      operationId: "findUserByEmail",
      summary: "Find a user by email (support: whose account is this address?)",
      security: ADMIN_SECURITY,
      request: { query: z.object({ email: UserEmail }) },
      responses: {
        200: jsonResponse(
          z
            .object({ users: z.array(AdminUser).describe("the one user with it, or none") })
            .openapi("UserMatches"),
          "Found, or not",
        ),
        ...errorResponses(400, 401, 403, 429, 503),
      },
    }),
    async (c) => {
      const result = await timed(c, () => findUser(getDb(c), { email: c.req.valid("query").email }));
      if (!result.ok) fail(c, result.error);
      return c.json({ users: result.value ? [result.value] : [] }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/users/{id}",
      operationId: "getUser",
      summary: "Read a user (404 says when one erased here was erased)",
      security: ADMIN_SECURITY,
      request: { params: IdParams },
      responses: {
        200: jsonResponse(AdminUser, "The user"),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const result = await timed(c, () => findUser(getDb(c), { id }));
      if (!result.ok) fail(c, result.error);
      if (!result.value) return noSuchUser(c, id);
      return c.json(result.value, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/users/{id}/export",
      operationId: "exportUser",
      summary: "Everything held about a user, for their access request",
      description:
        'One JSON object: the user, their feed selection, and every row naming them, each as its table holds it: memberships, posts and events (deleted ones too), answers to events, journeys and their activities, notifications, content they shared, the audit log entries of what they did and of what was done to their memberships, dead jobs. Streamed a page at a time; it ends with "complete": true, and a failure part way cuts the stream off, so a whole export is valid JSON and a cut one is not. not_included names what is left out, and why. 404 as for reading the user.',
      security: ADMIN_SECURITY,
      request: { params: IdParams },
      responses: {
        200: jsonResponse(UserExport, "The export"),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      return (await exportAnswer(c, id, "operator")) ?? noSuchUser(c, id);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/users/{id}/memberships",
      operationId: "listUserMemberships",
      summary: "A user's communities (inactive ones too) in tenant-id order, keyset-paged",
      security: ADMIN_SECURITY,
      request: { params: IdParams, query: MemberPageQuery },
      responses: {
        200: jsonResponse(UserMembershipPage, "One page"),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { limit, cursor, admin } = c.req.valid("query");
      const result = await timed(c, () =>
        listUserMemberships(getDb(c), c.req.valid("param").id, { after: cursor, limit, admin }),
      );
      if (!result.ok) fail(c, result.error);
      if (!result.value) fail(c, { kind: "not_found" }, "no such user");
      const { memberships, more } = result.value;
      return c.json({ memberships, next_cursor: more ? (memberships.at(-1)?.tenant_id ?? null) : null }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/users/{id}",
      operationId: "eraseUser",
      summary:
        "Erase a user: their memberships, posts, notifications, journeys, answers to events and dead jobs go with them; events they created and content they shared stay, authorless",
      description:
        "From then on the id is not saved again (PUT answers 409). 404 when no such user is here; the id is kept from being saved all the same, since the provider's sign-up call may not have arrived yet.",
      security: ADMIN_SECURITY,
      request: { params: IdParams },
      responses: { 200: jsonResponse(ErasedUser, "Erased"), ...errorResponses(400, 401, 403, 404, 429, 503) },
    }),
    async (c) => {
      const result = await timed(c, () => deleteUser(getDb(c), memberCache(c), c.req.valid("param").id));
      if (!result.ok) fail(c, result.error, "no such user");
      return c.json(result.value, 200);
    },
  );
