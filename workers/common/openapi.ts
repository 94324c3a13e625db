import "@hono/zod-openapi"; // gives zod schemas .openapi()
import type { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Env } from "hono";
import { ERROR_CODES, ERROR_STATUS, ErrorBodySchema, type ErrorCode } from "./errors";

/** The one error body every route answers with, registered once in the OpenAPI document. */
export const ErrorSchema = ErrorBodySchema.openapi("Error");

type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

/**
 * Error responses for a route's OpenAPI entry, so generated clients know the body of each: one
 * entry a status, listing the codes that leave with it. Every route may also answer 500.
 */
export function errorResponses(...statuses: ErrorStatus[]) {
  const responses: Partial<
    Record<
      ErrorStatus,
      {
        description: string;
        headers: Record<string, HeaderSpec>;
        content: { "application/json": { schema: typeof ErrorSchema } };
      }
    >
  > = {};
  for (const status of [...statuses, 500 as const]) {
    const codes = ERROR_CODES.filter((code) => ERROR_STATUS[code] === status);
    responses[status] = {
      description: codes.join(" | "),
      headers: { ...REQUEST_ID_HEADER, ...(ERROR_HEADERS[status] ?? {}) },
      content: { "application/json": { schema: ErrorSchema } },
    };
  }
  return responses;
}

/** A response header's entry in the OpenAPI document. */
type HeaderSpec = { description: string; schema: { type: "string" | "integer" } };

const REQUEST_ID_HEADER: Record<string, HeaderSpec> = {
  "X-Request-Id": {
    description: "the request's id, as in the body and the log line",
    schema: { type: "string" },
  },
};

/** The headers an error status carries besides X-Request-Id (workers/common/http.ts, rate-limit.ts). */
const ERROR_HEADERS: Partial<Record<ErrorStatus, Record<string, HeaderSpec>>> = {
  401: {
    "WWW-Authenticate": {
      description: 'Bearer, with error="invalid_token" for a bad token',
      schema: { type: "string" },
    },
  },
  429: {
    "Retry-After": { description: "seconds until the rate limit's window ends", schema: { type: "integer" } },
  },
  503: { "Retry-After": { description: "seconds to wait before trying again", schema: { type: "integer" } } },
};

/** A JSON response entry of a route. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** An OpenAPI security requirement: scheme names and their scopes (none for bearer tokens). */
type SecurityRequirement = Record<string, string[]>;

/** Both workers' admin routes: `Authorization: Bearer <ADMIN_TOKEN>`. */
export const ADMIN_SECURITY: SecurityRequirement[] = [{ adminToken: [] }];
/** The tenant worker's user routes: `Authorization: Bearer <the user's JWT>`. */
export const USER_SECURITY: SecurityRequirement[] = [{ userToken: [] }];
/** A user route that answers anonymous callers too (the empty requirement). */
export const OPTIONAL_USER_SECURITY: SecurityRequirement[] = [{}, { userToken: [] }];
/** The identity provider's webhooks: `Authorization: Bearer <SUPABASE_HOOK_TOKEN>`. */
export const HOOK_SECURITY: SecurityRequirement[] = [{ hookToken: [] }];
/** A route anyone may call, said so, so that no client generator guesses. */
export const NO_SECURITY: SecurityRequirement[] = [];

export function documentAdminToken(app: Pick<OpenAPIHono, "openAPIRegistry">): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", { type: "http", scheme: "bearer" });
}

export function documentHookToken(app: Pick<OpenAPIHono, "openAPIRegistry">): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "hookToken", {
    type: "http",
    scheme: "bearer",
    description: "SUPABASE_HOOK_TOKEN, set in the Supabase webhook's headers",
  });
}

export function documentUserToken(app: Pick<OpenAPIHono, "openAPIRegistry">): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "userToken", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description:
      "The user's JWT: HS256 with the project's secret (Supabase-issued tokens) or RS256/ES256 from AUTH_JWKS_URL; `sub` is the user's id. Supabase's anon key and publishable key (`sb_publishable_…`) stand for an anonymous caller",
  });
}

type DocumentConfig = Parameters<OpenAPIHono["getOpenAPI31Document"]>[0];

/** An If-None-Match list names this tag (weak comparison, RFC 9110 §13.1.2). */
function namesTag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

/**
 * Serves the app's OpenAPI 3.1 document at /openapi.json. @hono/zod-openapi's doc31 rebuilds it
 * from the registry on every request, about 4 ms of CPU for the tenant worker's 60 KB document
 * (forty times an L1 context answer, half of a free plan's CPU limit) on a public route anyone
 * may hit in a loop. The routes cannot change within an isolate, so the first request builds it
 * and the isolate keeps the text and its tag; clients and shared caches keep it for five
 * minutes and then revalidate with If-None-Match, which costs neither side the 60 KB.
 */
export function serveOpenApiDocument<E extends Env>(app: OpenAPIHono<E>, title: string): void {
  const config: DocumentConfig = {
    openapi: "3.1.0",
    info: { title, version: "0.1.0" },
    // Relative: the document is served by the worker it describes, on whatever host that is.
    servers: [{ url: "/" }],
  };
  let built: { body: string; etag: string } | undefined;
  app.get("/openapi.json", async (c) => {
    if (!built) {
      const body = JSON.stringify(app.getOpenAPI31Document(config));
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body));
      const hex = Array.from(new Uint8Array(digest).subarray(0, 12), (b) => b.toString(16).padStart(2, "0"));
      built = { body, etag: `"${hex.join("")}"` };
    }
    c.header("ETag", built.etag);
    c.header("Cache-Control", "public, max-age=300");
    if (namesTag(c.req.header("If-None-Match"), built.etag)) return c.body(null, 304);
    return c.body(built.body, 200, { "Content-Type": "application/json" });
  });
}
