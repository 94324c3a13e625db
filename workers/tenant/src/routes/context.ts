import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { dbFailure } from "../../../common/http";
import { errorResponses, OPTIONAL_USER_SECURITY } from "../../../common/openapi";
import { findMembership, getMembership } from "../auth/membership";
import type { HonoEnv } from "../env";
import { defer, getDb, timed } from "../middleware/request";
import { TENANT_PARAMETERS } from "../middleware/tenant";

export const TenantSchema = z
  .object({
    id: z.guid(),
    slug: z.string(),
    name: z.string(),
    logo_url: z.string().nullable(),
    primary_color: z.string().nullable(),
    secondary_color: z.string().nullable(),
    domain: z.string().nullable(),
    settings: z.record(z.string(), z.unknown()),
  })
  .openapi("Tenant");

const UserSchema = z
  .object({ id: z.guid(), email: z.string(), role: z.string(), is_admin: z.boolean() })
  .openapi("ContextUser");

export const ContextSchema = z
  .object({ tenant: TenantSchema, user: UserSchema.nullable() })
  .openapi("Context");

const route = createRoute({
  method: "get",
  path: "/",
  operationId: "getContext",
  security: OPTIONAL_USER_SECURITY,
  parameters: TENANT_PARAMETERS,
  summary: "The resolved tenant, and the caller's membership in it",
  description:
    "`user` is null for anonymous callers and for users who are not members. Anonymous answers may be cached publicly for 60 s; answers to a token never are.",
  responses: {
    200: { description: "Tenant context", content: { "application/json": { schema: ContextSchema } } },
    ...errorResponses(400, 401, 404, 503),
  },
});

export const context = new OpenAPIHono<HonoEnv>().openapi(route, async (c) => {
  const tenant = c.get("tenant");
  const user = c.get("user");
  if (!user) {
    c.header("Cache-Control", "public, max-age=60");
    c.header("Vary", "Authorization, X-Tenant");
    return c.json({ tenant, user: null }, 200);
  }
  c.header("Cache-Control", "private, no-store");
  const member = await getMembership(tenant.id, user.id, {
    kv: c.env.TENANT_CACHE,
    load: () => timed(c, () => findMembership(getDb(c), tenant.id, user.id)),
    waitUntil: (p) => defer(c, p),
  });
  if (!member.ok) throw dbFailure(c, member.error, "membership lookup is unavailable, try again shortly");
  const m = member.value;
  return c.json(
    { tenant, user: m ? { id: user.id, email: m.email, role: m.role, is_admin: m.is_admin } : null },
    200,
  );
});
