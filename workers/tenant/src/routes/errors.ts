import { z } from "@hono/zod-openapi";
import { ERROR_STATUS, type ErrorCode } from "../../../common/errors";

const CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** The one error body every route answers with (common/errors.ts), as the OpenAPI document shows it. */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(CODES),
      message: z.string().describe("For people; safe to show, never a driver's or a stack's text."),
      request_id: z.string().describe("The response's X-Request-Id."),
    }),
  })
  .openapi("Error");

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
    const codes = CODES.filter((code) => ERROR_STATUS[code] === status);
    responses[status] = {
      description: codes.join(" | "),
      content: { "application/json": { schema: ErrorSchema } },
    };
  }
  return responses;
}
