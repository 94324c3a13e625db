import { createMiddleware } from "hono/factory";
import { log } from "../../../common/log";
import type { HonoEnv } from "../env";

/**
 * CORS for the public API, so a browser app on another origin (app.example.com calling
 * api.example.com with X-Tenant and a bearer token) can use it. Tokens travel in Authorization,
 * never in cookies, so there is no credentials mode: an allowed page still needs a token of its
 * own, and `*` (the default) gives it nothing it could not send from a server. The admin API gets
 * none: it is for servers, and a browser has no business holding ADMIN_TOKEN.
 *
 * A preflight is answered here, before tenant resolution, authentication and rate limits: the
 * browser sends it without X-Tenant or Authorization (it only names them).
 */

// Every method the public API serves (the cors tests hold this to the OpenAPI document).
const ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id, X-Tenant";
/**
 * A preflight's Access-Control-Request-Headers: header names (RFC 9110 tokens), comma-separated.
 * Besides ours, a page's libraries add headers of their own to every request: Sentry's
 * `sentry-trace` and `baggage`, OpenTelemetry's `traceparent`, supabase-js's `apikey` and
 * `x-client-info`. A preflight that leaves one out fails every call the page makes, so whatever
 * names it asks for are allowed: there is no credentials mode to protect (see above), and a
 * header changes nothing here but what the API reads, which a server could send as well.
 */
const REQUESTED_HEADERS = /^[!#$%&'*+.^_`|~0-9a-z-]+(?:[ \t]*,[ \t]*[!#$%&'*+.^_`|~0-9a-z-]+)*$/i;
/** Browsers send a few dozen bytes; a list longer than this is not a browser's, and is not echoed. */
const MAX_REQUESTED_HEADERS_CHARS = 2048;

function allowedHeaders(requested: string | undefined): string {
  const list = requested?.trim();
  if (!list || list.length > MAX_REQUESTED_HEADERS_CHARS || !REQUESTED_HEADERS.test(list))
    return ALLOW_HEADERS;
  return `${ALLOW_HEADERS}, ${list}`;
}
/** What a page may read besides the CORS-safelisted headers. */
const EXPOSE_HEADERS = "Retry-After, Server-Timing, WWW-Authenticate, X-Request-Id";
/** Chromium caps a cached preflight at two hours (Firefox at a day). */
const MAX_AGE_SECONDS = "7200";

/** The Access-Control-Allow-Origin value for a request's Origin, or null when it is not allowed. */
export type OriginRule = (origin: string) => string | null;

const ANY: OriginRule = () => "*";
const HOST_LABELS = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;
/** What CORS_ORIGINS may list: `scheme://host[:port]`, the host maybe `*.`-prefixed or `[IPv6]`. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/;

/**
 * `CORS_ORIGINS`: `*` (or unset) for any origin, else a comma-separated list of origins
 * (`https://app.example.com`, `http://localhost:5173`), where a host may start with `*.` for any
 * subdomain (`https://*.example.com` allows `https://acme.example.com`, not `https://example.com`).
 * An empty value allows none.
 */
export function parseOrigins(list: string | undefined): OriginRule {
  if (list === undefined) return ANY;
  const exact = new Set<string>();
  const wildcards: { prefix: string; suffix: string }[] = [];
  for (const raw of list.split(",")) {
    const entry = raw.trim().toLowerCase().replace(/\/+$/, "");
    if (entry === "*") return ANY;
    // "null" is the Origin of sandboxed and file:// pages: odd to allow, but an origin.
    if (entry !== "" && entry !== "null" && !ORIGIN.test(entry)) {
      // A browser's Origin is a scheme, a host and maybe a port, nothing more: an entry without
      // its scheme ("app.example.com") or with a path matches no page, and every call the page
      // makes fails on CORS, which the browser reports and this worker never sees.
      log("warn", "CORS_ORIGINS entry is no origin; no page matches it", { entry: raw.trim() });
    }
    const star = entry.indexOf("://*.");
    if (star > 0) wildcards.push({ prefix: entry.slice(0, star + 3), suffix: entry.slice(star + 4) });
    else if (entry !== "") exact.add(entry);
  }
  return (origin) => {
    const o = origin.toLowerCase();
    if (exact.has(o)) return origin;
    for (const { prefix, suffix } of wildcards) {
      if (o.length > prefix.length + suffix.length && o.startsWith(prefix) && o.endsWith(suffix)) {
        if (HOST_LABELS.test(o.slice(prefix.length, o.length - suffix.length))) return origin;
      }
    }
    return null;
  };
}

let ruleFor: { list: string | undefined; rule: OriginRule } | undefined;

function originRule(list: string | undefined): OriginRule {
  if (ruleFor === undefined || ruleFor.list !== list) ruleFor = { list, rule: parseOrigins(list) };
  return ruleFor.rule;
}

export const cors = createMiddleware<HonoEnv>(async (c, next) => {
  const origin = c.req.header("origin");
  const allowed = origin === undefined ? null : originRule(c.env.CORS_ORIGINS)(origin);
  if (c.req.method === "OPTIONS") {
    const headers: Record<string, string> = {
      Allow: ALLOW_METHODS,
      Vary: "Origin, Access-Control-Request-Headers",
    };
    if (allowed !== null) {
      headers["Access-Control-Allow-Origin"] = allowed;
      headers["Access-Control-Allow-Methods"] = ALLOW_METHODS;
      headers["Access-Control-Allow-Headers"] = allowedHeaders(
        c.req.header("access-control-request-headers"),
      );
      headers["Access-Control-Max-Age"] = MAX_AGE_SECONDS;
    }
    return c.body(null, 204, headers);
  }
  await next();
  // Whether the answer carries CORS headers depends on Origin: a shared cache must know.
  const headers = c.res.headers;
  headers.append("Vary", "Origin");
  if (allowed !== null) {
    headers.set("Access-Control-Allow-Origin", allowed);
    headers.set("Access-Control-Expose-Headers", EXPOSE_HEADERS);
  }
});
