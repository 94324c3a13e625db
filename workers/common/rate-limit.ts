import { createMiddleware } from "hono/factory";
import { ApiError } from "./errors";
import { log } from "./log";

type LimiterName = "ADMIN_RATE_LIMITER" | "WRITE_RATE_LIMITER";

/** The binding's period: it reports no reset time, so clients are told to wait one window. */
const WINDOW_SECONDS = 60;

/**
 * Counts the request against a Workers rate-limiting binding: per verified user when there is
 * one (the tenant worker's write routes), else per client IP. A limiter that fails lets the
 * request through (and logs): the limit protects capacity, it must not become an outage of its
 * own. Both workers' admin APIs take the one ADMIN_TOKEN, so both count guesses per IP.
 */
export function rateLimit<N extends LimiterName>(name: N) {
  return createMiddleware<{
    Bindings: { [K in N]: RateLimit };
    Variables: { user?: { id: string } | null };
  }>(async (c, next) => {
    const limiter = c.env[name];
    const user = c.get("user");
    const key = user ? `user:${user.id}` : `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`;
    let allowed = true;
    try {
      ({ success: allowed } = await limiter.limit({ key }));
    } catch (e) {
      log("warn", "rate limiter failed; request let through", {
        limiter: name,
        error: e instanceof Error ? e.message : String(e),
      });
    }
    if (!allowed) {
      throw new ApiError("rate_limited", "too many requests, slow down", {
        headers: { "Retry-After": String(WINDOW_SECONDS) },
      });
    }
    await next();
  });
}
