import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { type Database, type DbHandle, openDb } from "../../../common/db";
import { requestIdOf } from "../../../common/http";
import { log } from "../../../common/log";
import type { HonoEnv } from "../env";

/**
 * Request id (a well-formed incoming X-Request-Id is kept so traces join up), one JSON log line
 * per request, Server-Timing, and the end of the request's database pool.
 */
export const requestContext = createMiddleware<HonoEnv>(async (c, next) => {
  const started = performance.now();
  const requestId = requestIdOf(c.req.header("x-request-id"));
  c.set("requestId", requestId);
  c.set("dbMs", 0);
  c.set("background", []);
  try {
    await next();
  } finally {
    const handle = c.get("dbHandle");
    // Background work (a stale-while-revalidate refresh) may still be using the pool, or open it
    // after the response: end the pool only once that work is done.
    const background = c.get("background");
    c.executionCtx.waitUntil(Promise.allSettled(background).then(() => c.get("dbHandle")?.close()));
    const duration = performance.now() - started;
    c.res.headers.set("X-Request-Id", requestId);
    const timing = [`total;dur=${duration.toFixed(1)}`];
    const tier = c.get("cacheTier");
    if (tier) timing.push(`tenant;desc=${tier}`);
    if (handle || c.get("dbMs") > 0) timing.push(`db;dur=${c.get("dbMs").toFixed(1)}`);
    const existing = c.res.headers.get("Server-Timing");
    c.res.headers.set("Server-Timing", [existing, ...timing].filter(Boolean).join(", "));
    log("info", "request", {
      request_id: requestId,
      method: c.req.method,
      path: c.req.path,
      tenant: c.get("tenant")?.slug,
      tier,
      status: c.res.status,
      duration_ms: Math.round(duration * 10) / 10,
    });
  }
});

/** The request's database pool, opened lazily so routes served from cache never open a socket. */
export function getDbHandle(c: Context<HonoEnv>): DbHandle {
  let handle = c.get("dbHandle");
  if (!handle) {
    handle = openDb(c.env);
    c.set("dbHandle", handle);
  }
  return handle;
}

/** The request's drizzle client (see getDbHandle). */
export function getDb(c: Context<HonoEnv>): Database {
  return getDbHandle(c).db;
}

/** Work that may outlive the response; the request's pool stays open until it settles. */
export function defer(c: Context<HonoEnv>, work: Promise<unknown>): void {
  c.get("background").push(work);
  c.executionCtx.waitUntil(work);
}

/** Times a database call into the request's Server-Timing `db` entry. */
export async function timed<T>(c: Context<HonoEnv>, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    c.set("dbMs", c.get("dbMs") + (performance.now() - started));
  }
}
