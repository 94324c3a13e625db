import "@hono/zod-openapi"; // gives zod schemas .openapi()
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
      { description: string; content: { "application/json": { schema: typeof ErrorSchema } } }
    >
  > = {};
  for (const status of [...statuses, 500 as const]) {
    const codes = ERROR_CODES.filter((code) => ERROR_STATUS[code] === status);
    responses[status] = {
      description: codes.join(" | "),
      content: { "application/json": { schema: ErrorSchema } },
    };
  }
  return responses;
}
