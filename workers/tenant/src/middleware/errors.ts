import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { ApiError, type ErrorCode, errorBody } from "../../../common/errors";
import { describeError, log } from "../../../common/log";
import type { HonoEnv } from "../env";

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
  const message = code === "internal_error" ? "internal error" : e.message || code.replaceAll("_", " ");
  return new ApiError(code, message);
}

export function errorResponse(c: Context<HonoEnv>, error: ApiError): Response {
  const requestId = c.get("requestId") ?? "unknown";
  return c.json(errorBody(error.code, error.message, requestId), error.status, {
    ...error.headers,
    "Cache-Control": "no-store",
  });
}

/** app.onError: every error leaves as `{"error":{code,message,request_id}}`, never a stack. */
export function onError(e: Error, c: Context<HonoEnv>): Response {
  if (e instanceof ApiError) return errorResponse(c, e);
  if (e instanceof HTTPException) return errorResponse(c, fromHttpException(e));
  log("error", "unhandled error", { request_id: c.get("requestId"), ...describeError(e) });
  return errorResponse(c, new ApiError("internal_error", "internal error"));
}

/**
 * app.notFound, knowing the app's routes: a path that exists under other methods is 405 with
 * `Allow`, anything else 404.
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
  return (c: Context<HonoEnv>): Response => {
    const allowed = new Set<string>();
    for (const { pattern, methods } of patterns.values()) {
      if (pattern.test(c.req.path)) for (const m of methods) allowed.add(m);
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

/** zod-openapi's defaultHook: a failed validation leaves in the one error shape. */
export function validationHook(
  result:
    | { success: true }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } },
  c: Context<HonoEnv>,
): Response | undefined {
  if (result.success) return undefined;
  const detail = result.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join(".") || "body"}: ${i.message}`)
    .join("; ");
  return errorResponse(c, new ApiError("validation_failed", detail));
}
