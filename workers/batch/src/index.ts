import { pingDb } from "../../common/db";
import { errorBody } from "../../common/errors";
import { log } from "../../common/log";
import { runScheduled } from "./cron";
import type { Env } from "./env";

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { "Cache-Control": "no-store", ...headers } });
}

export default {
  /** Health only: the batch worker has no public API. */
  async fetch(request, env) {
    const requestId = crypto.randomUUID();
    const url = new URL(request.url);
    const headers = { "X-Request-Id": requestId };
    if (url.pathname !== "/health") {
      return json(
        errorBody("not_found", `no route for ${request.method} ${url.pathname}`, requestId),
        404,
        headers,
      );
    }
    if (request.method !== "GET") {
      return json(errorBody("method_not_allowed", "use GET", requestId), 405, { ...headers, Allow: "GET" });
    }
    const db = await pingDb(env);
    if (!db.ok) {
      return json(errorBody("service_unavailable", "database unavailable", requestId), 503, {
        ...headers,
        "Retry-After": "5",
      });
    }
    return json({ status: "ok", db: "ok" }, 200, headers);
  },

  scheduled: runScheduled,

  async queue(batch) {
    // The consumer is not written yet: keep every message (retry later) rather than drop it.
    log("warn", "queue consumer not implemented; retrying batch", {
      queue: batch.queue,
      size: batch.messages.length,
    });
    batch.retryAll({ delaySeconds: 60 });
  },
} satisfies ExportedHandler<Env>;
