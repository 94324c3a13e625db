import { createMiddleware } from "hono/factory";
import { ApiError } from "./errors";
import { describeError, log } from "./log";

type LimiterName =
  | "ADMIN_RATE_LIMITER"
  | "WRITE_RATE_LIMITER"
  | "READ_RATE_LIMITER"
  | "EXPORT_RATE_LIMITER"
  | "HOOK_RATE_LIMITER";

/** What a Workers rate-limiting binding (RateLimit) offers, by shape: Node code imports this file too. */
interface Limiter {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

/** The binding's period: it reports no reset time, so clients are told to wait one window. */
const WINDOW_SECONDS = 60;

/**
 * Whom an address limit counts: an IPv4 address, or an IPv6 address's /64. A single IPv6 client
 * is usually given a whole /64, so counting addresses would give it 2^64 budgets.
 */
export function clientNetwork(ip: string | undefined): string {
  if (!ip) return "unknown";
  // IPv4, or IPv4 written as IPv6 (::ffff:192.0.2.1): the address itself.
  if (!ip.includes(":") || ip.includes(".")) return ip;
  const [head = "", tail] = ip.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups =
    tail === undefined
      ? left
      : [
          ...left,
          ...Array.from({ length: Math.max(0, 8 - left.length - right.length) }, () => "0"),
          ...right,
        ];
  if (groups.length < 4 || groups.slice(0, 4).some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return ip;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/**
 * Counts the request against a Workers rate-limiting binding: per verified user when there is
 * one (the tenant worker's write routes and database reads), else per client address
 * (clientNetwork). A limiter that fails lets the request through (and logs): the limit protects
 * capacity, it must not become an outage of its own. Both workers' admin APIs take the one
 * ADMIN_TOKEN, so both count guesses per IP.
 */
export function rateLimit<N extends LimiterName>(name: N) {
  return createMiddleware<{
    Bindings: { [K in N]: Limiter };
    Variables: { user?: { id: string } | null };
  }>(async (c, next) => {
    const limiter = c.env[name];
    const user = c.get("user");
    const key = user ? `user:${user.id}` : `ip:${clientNetwork(c.req.header("cf-connecting-ip"))}`;
    let allowed = true;
    try {
      ({ success: allowed } = await limiter.limit({ key }));
    } catch (e) {
      log("warn", "rate limiter failed; request let through", {
        limiter: name,
        ...describeError(e),
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
