import { createMiddleware } from "hono/factory";
import { ApiError } from "../../../common/errors";
import type { HonoEnv } from "../env";

const encoder = new TextEncoder();

/** Compares digests, so neither the length nor the content of the secret leaks through timing. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/** The admin API takes `Authorization: Bearer <ADMIN_TOKEN>`. */
export const requireAdmin = createMiddleware<HonoEnv>(async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw new ApiError("forbidden", "the admin API is not configured");
  const given = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization")?.trim() ?? "")?.[1];
  if (!given) throw new ApiError("unauthorized", "this route needs the admin token");
  if (!(await sameSecret(given, expected))) throw new ApiError("forbidden", "wrong admin token");
  await next();
});
