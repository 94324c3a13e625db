import "@hono/zod-openapi"; // gives zod schemas .openapi()
import type { OpenAPIHono, z } from "@hono/zod-openapi";
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

/** A JSON response entry of a route. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** Both workers' admin routes: `Authorization: Bearer <ADMIN_TOKEN>`. */
export const ADMIN_SECURITY = [{ adminToken: [] }];

export function documentAdminToken(app: Pick<OpenAPIHono, "openAPIRegistry">): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", { type: "http", scheme: "bearer" });
}
