import { Hono } from "hono";

/**
 * The bare route answering as /v1/context must: the same body, the headers an anonymous answer
 * carries and one JSON log line, with no middleware, cache or lookup. Measured beside the bare
 * route it shows what the API's contract costs through this harness, apart from our code.
 * With ANSWER=log-only it answers as the bare route does and only adds the log line, which
 * splits that cost into the line and the rest.
 */
const tenant = {
  id: "00000000-0000-4000-8000-000000000001",
  slug: "bench-1",
  name: "Bench tenant 1",
  logo_url: null,
  primary_color: "#336699",
  secondary_color: null,
  domain: null,
  settings: {},
};

const app = new Hono<{ Bindings: { ANSWER?: string } }>();
app.get("/v1/context", (c) => {
  const started = performance.now();
  const requestId = crypto.randomUUID();
  const full = c.env.ANSWER !== "log-only";
  let res: Response;
  if (full) {
    c.header("Cache-Control", "public, max-age=60");
    c.header("Vary", "Authorization, X-Tenant, Origin");
    res = c.json({ tenant, user: null });
  } else {
    res = c.json({ tenant: { slug: "bare" }, user: null });
  }
  const duration = performance.now() - started;
  if (full) {
    res.headers.set("X-Request-Id", requestId);
    res.headers.set("Server-Timing", `total;dur=${duration.toFixed(1)}, tenant;desc=l1`);
  }
  console.log(
    JSON.stringify({
      level: "info",
      msg: "request",
      time: new Date().toISOString(),
      request_id: requestId,
      method: "GET",
      path: "/v1/context",
      tenant: tenant.slug,
      tier: "l1",
      status: 200,
      duration_ms: Math.round(duration * 10) / 10,
    }),
  );
  return res;
});

export default { fetch: app.fetch };
