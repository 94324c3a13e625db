import type { RouteConfig } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { directoryItem } from "../../../common/directory";
import { ApiError } from "../../../common/errors";
import { dbFailure, servesRequest } from "../../../common/http";
import type { HonoEnv } from "../env";
import { tenantCacheFor } from "../tenancy/cache";
import { tenantDirectory } from "../tenancy/directory";
import { cacheKey, lookupKey, parsePlatform, parseReserved } from "../tenancy/host";
import { findTenant } from "../tenancy/queries";
import { defer, getDb, timed } from "./request";

/**
 * How a request names its tenant, for the OpenAPI document of every route behind resolveTenant.
 * Documented only, not validated by the router: resolveTenant reads them itself, and a
 * validator would run on every request, L1 hits included.
 */
export const TENANT_PARAMETERS: NonNullable<RouteConfig["parameters"]> = [
  {
    name: "X-Tenant",
    in: "header",
    required: false,
    schema: { type: "string", maxLength: 63 },
    description:
      "The tenant's slug (a DNS label, case-insensitive). Without it or ?tenant=, the Host names the tenant: a subdomain of the platform domain, or a tenant's custom domain.",
  },
  {
    name: "tenant",
    in: "query",
    required: false,
    schema: { type: "string", maxLength: 63 },
    description:
      "The tenant's slug, where a header cannot be set; given at most once. X-Tenant wins over it.",
  },
];

/** A tenant lookup never waits longer than this on the database. */
const TENANT_QUERY_TIMEOUT_MS = 2_000;

/**
 * ?tenant= given twice names two tenants; taking the first would let a proxy or firewall that
 * reads the last one judge a different tenant than the one served. (A repeated X-Tenant header
 * arrives joined, "a, b", and fails the slug rule the same way.)
 */
function onlyTenantParam(values: string[] | undefined): string | undefined {
  if (values !== undefined && values.length > 1) {
    throw new ApiError("invalid_tenant", "name one tenant: ?tenant= is given more than once");
  }
  return values?.[0];
}

/** Resolves the request's tenant (L1, then KV, then Postgres) or answers with an error. */
export const resolveTenant = createMiddleware<HonoEnv>(async (c, next) => {
  if (!servesRequest(c)) return next();
  const named = c.req.header("x-tenant") ?? onlyTenantParam(c.req.queries("tenant"));
  const key = lookupKey(
    // The Host is read only when no tenant is named (an L1 hit by X-Tenant skips it).
    { named, host: named === undefined ? (c.req.header("host") ?? new URL(c.req.url).host) : "" },
    parsePlatform(c.env.PLATFORM_DOMAIN),
    parseReserved(c.env.RESERVED_SUBDOMAINS),
  );
  if (!key.ok) {
    throw key.error === "invalid_tenant"
      ? new ApiError("invalid_tenant", "the tenant name is not a valid DNS label")
      : new ApiError("tenant_required", "name a tenant by subdomain, custom domain, X-Tenant or ?tenant=");
  }
  const resolved = await tenantCacheFor(c.env).resolve(cacheKey(key.value), {
    kv: c.env.TENANT_CACHE,
    load: () => timed(c, () => findTenant(getDb(c), key.value, TENANT_QUERY_TIMEOUT_MS)),
    mightExist: () =>
      tenantDirectory.mightExist(directoryItem(key.value.kind, key.value.value), c.env.TENANT_CACHE, (p) =>
        defer(c, p),
      ),
    waitUntil: (p) => defer(c, p),
  });
  if (!resolved.ok) throw dbFailure(c, resolved.error, "tenant lookup is unavailable, try again shortly");
  c.set("cacheTier", resolved.value.tier);
  if (!resolved.value.tenant) throw new ApiError("tenant_not_found", "no such tenant");
  c.set("tenant", resolved.value.tenant);
  await next();
});
