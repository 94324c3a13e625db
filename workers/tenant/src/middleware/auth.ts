import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { ApiError } from "../../../common/errors";
import { servesRequest } from "../../../common/http";
import { type VerifiedUser, verifyToken } from "../auth/jwt";
import type { HonoEnv } from "../env";

const TOKEN_ERROR_MESSAGES = {
  expired: "the token has expired",
  invalid: "the token is not valid",
  not_a_user: "a Supabase project key for servers names no user: send the signed-in user's access token",
} as const;

/**
 * No Authorization header, or a token that stands for nobody (Supabase's anon key, verified, or
 * its publishable key): an anonymous request. A header that is there but not a valid bearer
 * token is 401, never silently anonymous.
 */
export const authenticate = createMiddleware<HonoEnv>(async (c, next) => {
  if (!servesRequest(c)) return next();
  const header = c.req.header("authorization");
  if (header === undefined) {
    c.set("user", null);
    return next();
  }
  const match = /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim());
  if (!match?.[1]) throw new ApiError("invalid_token", "expected Authorization: Bearer <token>");
  // `Bearer ${token}` with no token in hand: a client bug common enough to name, and still a 401.
  if (match[1] === "undefined" || match[1] === "null") {
    throw new ApiError(
      "invalid_token",
      `the bearer token is "${match[1]}": the client had no token; an anonymous request sends no Authorization header`,
    );
  }
  const verified = await verifyToken(match[1], c.env, {
    waitUntil: (p) => c.executionCtx.waitUntil(p),
  });
  if (!verified.ok) {
    if (verified.error === "misconfigured") {
      throw new ApiError("service_unavailable", "token verification is not configured");
    }
    if (verified.error === "unavailable") {
      throw new ApiError("service_unavailable", "the identity provider's keys cannot be fetched now");
    }
    throw new ApiError("invalid_token", TOKEN_ERROR_MESSAGES[verified.error]);
  }
  c.set("user", verified.value);
  await next();
});

/** The request's verified user; 401 for anonymous requests. */
export function currentUser(c: Context<HonoEnv>): VerifiedUser {
  const user = c.get("user");
  if (!user) throw new ApiError("unauthorized", "this route needs a bearer token");
  return user;
}

/**
 * For routes that need a user: 401 for anonymous requests, before any other work. (A request
 * no route serves is left to be told 404 or 405.) Whatever such a route answers depends on the
 * token, so no shared cache may keep it: said here once, not by each handler.
 */
export const requireUser = createMiddleware<HonoEnv>(async (c, next) => {
  if (servesRequest(c)) currentUser(c);
  await next();
  // An error has its own (no-store, errorResponse).
  if (!c.res.headers.has("Cache-Control")) c.res.headers.set("Cache-Control", "private, no-store");
});
