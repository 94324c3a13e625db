import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { matchedRoutes } from "hono/route";
import { DENIAL_MESSAGES, type Denial } from "./authz";
import type { DbError } from "./db";
import { ApiError, describeIssues, type ErrorCode, errorBody } from "./errors";
import { describeError, log } from "./log";
import {
  type CreatedPosition,
  createdPosition,
  type SoonestFirstPosition,
  soonestFirstPosition,
} from "./pages";
import { UNSTORABLE_TEXT_MESSAGE, unstorableTextAt } from "./text";
import { shortSecret } from "./vars";

/**
 * The HTTP edge both workers share: the one error shape, 404/405, validation failures, the
 * admin token. Generic over the app's env; all it needs is the request id variable.
 */
export interface BaseEnv {
  Variables: { requestId: string };
}

/** Maps Hono's own exceptions (body limit, malformed JSON) onto our closed set of codes. */
function fromHttpException(e: HTTPException): ApiError {
  const byStatus: Partial<Record<number, ErrorCode>> = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
  };
  const malformedJson = e.status === 400 && /json/i.test(e.message);
  const code = malformedJson ? "invalid_json" : (byStatus[e.status] ?? "internal_error");
  if (code === "internal_error") {
    // Kept from the client, as any unexpected error's message is; the request's line says it.
    return new ApiError(code, "internal error", { detail: `HTTP ${e.status}: ${e.message}` });
  }
  return new ApiError(code, e.message || code.replaceAll("_", " "));
}

/** Seconds a client waits before retrying a 503, unless the error names its own Retry-After. */
const RETRY_AFTER_SECONDS = "5";

/**
 * Headers an error's status calls for. A 401 must name its scheme (RFC 9110 §15.5.2); RFC 6750
 * adds `error="invalid_token"` when a token was sent and refused, and no error when none was
 * sent. A 503 says when to come back: every one is a fault that passes (a database or provider
 * down or busy), and a client told nothing retries at once.
 */
function statusHeaders(error: ApiError): Record<string, string> {
  if (error.status === 401) {
    return { "WWW-Authenticate": error.code === "invalid_token" ? 'Bearer error="invalid_token"' : "Bearer" };
  }
  if (error.status === 503) return { "Retry-After": RETRY_AFTER_SECONDS };
  return {};
}

/** The error each request was answered with, for its log line (logRequest). */
const answeredWith = new WeakMap<Context, ApiError>();

export function errorResponse<E extends BaseEnv>(c: Context<E>, error: ApiError): Response {
  answeredWith.set(c, error);
  const requestId = c.get("requestId") ?? "unknown";
  return c.json(errorBody(error.code, error.message, requestId), error.status, {
    ...statusHeaders(error),
    ...error.headers,
    "Cache-Control": "no-store",
  });
}

/**
 * 503 for a database that did not answer. The cause rides in the request's log line: without it
 * an outage, a slow database and a wrong DATABASE_URL look alike there.
 */
export function dbUnavailable(message: string, e: DbError): ApiError {
  return new ApiError("service_unavailable", message, { detail: `${e.kind}: ${e.message}` });
}

/** 503 for a queue that refused a send (sendJobs' reason), its cause in the log line as above. */
export function queueUnavailable(message: string, reason: string): ApiError {
  return new ApiError("service_unavailable", message, { detail: `queue: ${reason}` });
}

/**
 * The HTTP answer to a database failure. Unreachable or slow (`unavailable`, `timeout`): 503 with
 * Retry-After, which a retry may get past. A statement the database refused (`query`): 500, since
 * no retry changes it and it is ours to fix, logged with its SQLSTATE and the request id, as the
 * client is told nothing of it.
 */
export function dbFailure<E extends BaseEnv>(
  c: Context<E>,
  e: DbError,
  unavailable = "the database is unavailable, try again shortly",
): ApiError {
  if (e.kind !== "query") return dbUnavailable(unavailable, e);
  log("error", "database refused a statement", {
    request_id: c.get("requestId"),
    path: c.req.path,
    code: e.code,
    constraint: e.constraint,
    error_message: e.message,
  });
  return new ApiError("internal_error", "internal error");
}

/** A refusal's answer: its error code and the message a client is shown. */
export type Refusals<R extends string> = Record<R, [code: ErrorCode, message: string]>;

/** A refusal (by the route's table of them) or a database failure, as the HTTP edge answers it. */
export function refusalError<E extends BaseEnv, R extends string>(
  c: Context<E>,
  e: R | DbError,
  refusals: Refusals<R>,
): ApiError {
  if (typeof e !== "string") return dbFailure(c, e);
  const [code, message] = refusals[e];
  return new ApiError(code, message);
}

/**
 * How each refusal of the rules (./authz.ts) answers, as a route's own refusals do: who may do
 * what is 403, what cannot be done is not.
 */
export const DENIALS: Refusals<Denial> = {
  not_member: ["forbidden", DENIAL_MESSAGES.not_member],
  not_admin: ["forbidden", DENIAL_MESSAGES.not_admin],
  recipient_not_member: ["forbidden", DENIAL_MESSAGES.recipient_not_member],
  not_author: ["forbidden", DENIAL_MESSAGES.not_author],
  not_moderator: ["forbidden", DENIAL_MESSAGES.not_moderator],
  no_such_content: ["not_found", DENIAL_MESSAGES.no_such_content],
  end_before_start: ["validation_failed", DENIAL_MESSAGES.end_before_start],
};

/** A refusal of the rules as the HTTP edge answers it; `where` names the job of several. */
export function denialError(reason: Denial, where = ""): ApiError {
  const [code, message] = DENIALS[reason];
  return new ApiError(code, `${where}${message}`);
}

/**
 * Where a keyset page starts: nowhere in particular without a cursor (or with an empty one),
 * and 400 for a cursor none of these lists gave out (`position` reads it, null for none).
 */
function pageAfter<P>(cursor: string | undefined, position: (cursor: string) => P | null): P | undefined {
  if (!cursor) return undefined;
  const after = position(cursor);
  if (!after) throw new ApiError("invalid_cursor", "the cursor is not one this list gave out");
  return after;
}

/**
 * Where a page keyed on (created_at, id) starts (dead jobs, the inbox, journeys, shares, a post's
 * comments): pageAfter.
 */
export const createdAfter = (cursor: string | undefined): CreatedPosition | undefined =>
  pageAfter(cursor, createdPosition);

/** Where a soonest-first page (the caller's events) starts: pageAfter. */
export const soonestFirstAfter = (cursor: string | undefined): SoonestFirstPosition | undefined =>
  pageAfter(cursor, soonestFirstPosition);

/** app.onError: every error leaves as `{"error":{code,message,request_id}}`, never a stack. */
export function onError<E extends BaseEnv>(e: Error, c: Context<E>): Response {
  if (e instanceof ApiError) return errorResponse(c, e);
  if (e instanceof HTTPException) return errorResponse(c, fromHttpException(e));
  log("error", "unhandled error", { request_id: c.get("requestId"), ...describeError(e) });
  return errorResponse(c, new ApiError("internal_error", "internal error"));
}

/**
 * app.notFound, knowing the app's routes: a path that exists under other methods is 405 with
 * `Allow`, anything else 404 (with a hint when only a trailing slash was in the way).
 */
export function notFoundHandler(routes: readonly { method: string; path: string }[]) {
  const patterns = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  for (const { method, path } of routes) {
    if (method === "ALL" || path.includes("*")) continue; // middleware, not endpoints
    const entry = patterns.get(path) ?? {
      pattern: new RegExp(`^${path.replace(/\/$/, "").replace(/:[^/]+/g, "[^/]+")}/?$`),
      methods: new Set<string>(),
    };
    entry.methods.add(method);
    patterns.set(path, entry);
  }
  return <E extends BaseEnv>(c: Context<E>): Response => {
    const allowed = new Set<string>();
    for (const { pattern, methods } of patterns.values()) {
      if (pattern.test(c.req.path)) for (const m of methods) allowed.add(m);
    }
    const method = c.req.method === "HEAD" ? "GET" : c.req.method;
    if (allowed.has(method)) {
      // The method is served at this path without its trailing slash: routes are strict.
      const path = c.req.path.replace(/\/+$/, "");
      return errorResponse(
        c,
        new ApiError("not_found", `no route for ${c.req.method} ${c.req.path}; did you mean ${path}?`),
      );
    }
    if (allowed.size > 0) {
      const allow = [...allowed].sort().join(", ");
      return errorResponse(
        c,
        new ApiError("method_not_allowed", `${c.req.method} is not allowed here; use ${allow}`, {
          headers: { Allow: allow },
        }),
      );
    }
    return errorResponse(c, new ApiError("not_found", `no route for ${c.req.method} ${c.req.path}`));
  };
}

/**
 * Whether a route serves this request's method and path. Middleware on a path prefix runs before
 * the router's answer is known; middleware that works or refuses for a route's sake (a body's
 * type, a tenant lookup, a token check) steps aside when no route serves the request, so a
 * wrong method is answered 405 with its Allow and a wrong path 404, not with an error about a
 * body, tenant or token no route would have read.
 */
export function servesRequest(c: Context): boolean {
  const method = c.req.method === "HEAD" ? "GET" : c.req.method;
  return matchedRoutes(c).some((route) => route.method === method);
}

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

/** Neither a body nor a type: what a client sends for a write that takes no body. */
function withoutBody(c: Context): boolean {
  return (
    c.req.header("content-type") === undefined &&
    (c.req.raw.body === null || c.req.header("content-length") === "0")
  );
}

/**
 * Bodies are JSON. zod-openapi validates a body only when its Content-Type is the route's own
 * (a missing or other type, `+json` ones included, reaches the handler unvalidated, as `{}`), so
 * a write with any other type is refused here: 415, before any handler sees it. A write with no
 * body and no type (`PUT /v1/posts/{id}/like`) has nothing to misread: it goes on, and a route
 * that takes a body (each declares it required) validates `{}` and names what is missing.
 */
export const requireJsonBody = createMiddleware<BaseEnv>(async (c, next) => {
  const method = c.req.method;
  if (
    (method === "POST" || method === "PUT" || method === "PATCH") &&
    !JSON_MEDIA_TYPE.test(c.req.header("content-type") ?? "") &&
    !withoutBody(c) &&
    servesRequest(c)
  ) {
    throw new ApiError("unsupported_media_type", "send the body as JSON (Content-Type: application/json)");
  }
  await next();
});

/**
 * zod-openapi's defaultHook: a failed validation leaves in the one error shape. What passed is
 * also refused if it holds text Postgres cannot store (./text.ts), here, where the field can be
 * named, rather than as a failed statement.
 */
export function validationHook<E extends BaseEnv>(
  result:
    | { success: true; data?: unknown; target?: string }
    | {
        success: false;
        error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] };
        target?: string;
      },
  c: Context<E>,
): Response | undefined {
  if (result.success) {
    const at = unstorableTextAt(result.data);
    if (at === null) return undefined;
    const field = at || (result.target === "json" || result.target === undefined ? "body" : result.target);
    return errorResponse(c, new ApiError("validation_failed", `${field}: ${UNSTORABLE_TEXT_MESSAGE}`));
  }
  let issues = result.error.issues;
  if (result.target === "query") {
    // A repeated parameter reaches the schema as an array; the schema's verdict on that ("a
    // whole number from 1 to 100") would not tell the client what it did.
    const repeated = new Set(
      Object.entries(c.req.queries())
        .filter(([, values]) => values.length > 1)
        .map(([key]) => key),
    );
    issues = issues.map((i) =>
      repeated.has(String(i.path[0])) ? { path: i.path.slice(0, 1), message: "given more than once" } : i,
    );
  }
  return errorResponse(c, new ApiError("validation_failed", describeIssues(issues, "body")));
}

const encoder = new TextEncoder();

/** Compares digests, so neither the length nor the content of the secret leaks through timing. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/**
 * The secrets taken now, the current one first, and the previous one while it is set: a rotation
 * then needs no moment when every caller switches at once. Empty when none is configured.
 */
export function rotatingSecret(current: string | undefined, previous: string | undefined): string[] {
  if (!current) return [];
  return previous ? [current, previous] : [current];
}

/**
 * The admin tokens taken now: ADMIN_TOKEN, and ADMIN_TOKEN_PREVIOUS during a rotation. What is
 * signed with the admin token (feed cursors, without an AUTH_JWT_SECRET) follows the same
 * rotation.
 */
export function adminTokens(env: { ADMIN_TOKEN?: string; ADMIN_TOKEN_PREVIOUS?: string }): string[] {
  return rotatingSecret(env.ADMIN_TOKEN, env.ADMIN_TOKEN_PREVIOUS);
}

/**
 * Routes for a caller that holds a shared secret: `Authorization: Bearer <token>` for any of the
 * tokens `accepted` gives (none: the routes are not configured, and refuse everyone). Their
 * answers are never for any cache to keep.
 */
export function requireBearerSecret<B extends object>(accepted: (env: B) => string[], name: string) {
  return createMiddleware<BaseEnv & { Bindings: B }>(async (c, next) => {
    const tokens = accepted(c.env);
    if (tokens.length === 0) throw new ApiError("forbidden", `the ${name} is not configured`);
    for (const token of tokens) shortSecret(name, token);
    const given = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization")?.trim() ?? "")?.[1];
    if (!given) throw new ApiError("unauthorized", `this route needs the ${name}`);
    // Every token taken is compared, whichever matches.
    const matches = await Promise.all(tokens.map((token) => sameSecret(given, token)));
    if (!matches.includes(true)) throw new ApiError("forbidden", `wrong ${name}`);
    await next();
    c.res.headers.set("Cache-Control", "no-store");
  });
}

/**
 * The admin API takes any of adminTokens. Its answers (tenants, members, dead jobs with their
 * payloads) are never for any cache to keep.
 */
export const requireAdmin = requireBearerSecret(adminTokens, "admin token");

/** A well-formed incoming X-Request-Id: kept, so traces join up across services. */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestIdOf(incoming: string | undefined): string {
  return incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
}

/**
 * The one JSON line each request to either worker leaves: request id, method, path, status,
 * duration, what the app adds (the tenant worker: tenant and cache tier) and, for an error
 * answer, its code, the message the client got and the detail it did not.
 */
export function logRequest(
  c: Context,
  requestId: string,
  durationMs: number,
  extra: Record<string, unknown> = {},
): void {
  // Which error the client got, and what it was not told (ApiError.detail).
  const error = answeredWith.get(c);
  log("info", "request", {
    request_id: requestId,
    method: c.req.method,
    path: c.req.path,
    ...extra,
    status: c.res.status,
    duration_ms: Math.round(durationMs * 10) / 10,
    ...(error && { error_code: error.code, error_message: error.message, error_detail: error.detail }),
  });
}

/**
 * A request id (a well-formed incoming X-Request-Id is kept) and one JSON log line per request,
 * for apps that need nothing more (the batch worker's admin API: its replays and discards leave
 * a line with the request id, as every request to the tenant worker does).
 */
export const requestLog = createMiddleware<BaseEnv>(async (c, next) => {
  const started = performance.now();
  const id = requestIdOf(c.req.header("x-request-id"));
  c.set("requestId", id);
  try {
    await next();
  } finally {
    c.res.headers.set("X-Request-Id", id);
    logRequest(c, id, performance.now() - started);
  }
});
