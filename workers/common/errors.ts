import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";

/** The closed set of error codes a client can see, each with its one HTTP status. */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  validation_failed: 400,
  tenant_required: 400,
  invalid_tenant: 400,
  invalid_cursor: 400,
  unsupported_content_type: 400,
  unauthorized: 401,
  invalid_token: 401,
  forbidden: 403,
  not_found: 404,
  tenant_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** The one error body: its type here, and the OpenAPI document's schema (common/openapi.ts). */
export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES),
    message: z.string().describe("For people; safe to show, never a driver's or a stack's text."),
    request_id: z.string().describe("The response's X-Request-Id."),
  }),
});

export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/**
 * The one error type of the HTTP edge; its message is always safe to show a client. `detail` is
 * for operators: the request's log line carries it, the response never does.
 */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: ContentfulStatusCode;
  readonly headers: Record<string, string>;
  readonly detail: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { headers?: Record<string, string>; detail?: string } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.headers = options.headers ?? {};
    this.detail = options.detail;
  }
}

export function errorBody(code: ErrorCode, message: string, requestId: string): ErrorBody {
  return { error: { code, message, request_id: requestId } };
}

/**
 * A schema's complaints in one line a person can act on: the first five, each at its path (the
 * whole value named `root`), as validation errors and dead-letter records carry them.
 */
export function describeIssues(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
  root: string,
): string {
  // One rule broken two ways (1e300: not a safe integer, and past max) is one line, said once.
  const lines = new Set(issues.map((i) => `${i.path.map(String).join(".") || root}: ${i.message}`));
  return [...lines].slice(0, 5).join("; ");
}
