import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { pingDb } from "../../../common/db";
import { dbUnavailable } from "../../../common/http";
import { errorResponses, NO_SECURITY } from "../../../common/openapi";
import type { HonoEnv } from "../env";
import { timed } from "../middleware/request";

const HealthSchema = z.object({ status: z.literal("ok"), db: z.literal("ok") }).openapi("Health");

const route = createRoute({
  method: "get",
  path: "/",
  operationId: "getHealth",
  security: NO_SECURITY,
  summary: "Liveness with a real database round trip",
  responses: {
    200: {
      description: "Worker and database answer",
      content: { "application/json": { schema: HealthSchema } },
    },
    ...errorResponses(503),
  },
});

export const health = new OpenAPIHono<HonoEnv>().openapi(route, async (c) => {
  // Answers within 3 s whatever the database does (pingDb bounds the wait).
  const result = await timed(c, () => pingDb(c.env));
  if (!result.ok) throw dbUnavailable("database unavailable", result.error);
  c.header("Cache-Control", "no-store");
  return c.json({ status: "ok" as const, db: "ok" as const }, 200);
});
