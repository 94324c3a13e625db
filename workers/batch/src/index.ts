import { pingDb } from "../../common/db";
import { errorBody } from "../../common/errors";
import { consumeDeadLetters, consumeJobs, DEAD_LETTER_QUEUE } from "./consume";
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

  async queue(batch, env, ctx) {
    if (batch.queue === DEAD_LETTER_QUEUE) await consumeDeadLetters(batch, env, ctx);
    else await consumeJobs(batch, env, ctx);
  },
} satisfies ExportedHandler<Env>;
