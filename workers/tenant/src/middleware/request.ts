import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import {
  type Database,
  type Db,
  openDb,
  openHttpDb,
  openKeysetSql,
  openSql,
  type Queryable,
} from "../../../common/db";
import { logRequest, requestIdOf } from "../../../common/http";
import { type ForgetDeps, redeleteAfterMs } from "../auth/membership";
import type { HonoEnv } from "../env";

/**
 * Request id (a well-formed incoming X-Request-Id is kept so traces join up), one JSON log line
 * per request, Server-Timing, and the end of the request's database session if one was opened.
 * This runs on every request, L1 hits included: it touches the response headers once and
 * hands nothing to waitUntil unless there is something to wait for.
 */
export const requestContext = createMiddleware<HonoEnv>(async (c, next) => {
  const started = performance.now();
  const requestId = requestIdOf(c.req.header("x-request-id"));
  c.set("requestId", requestId);
  c.set("dbMs", -1);
  c.set("background", []);
  try {
    await next();
  } finally {
    const handle = c.get("dbHandle");
    const background = c.get("background");
    // Background work (a cache refresh, a directory rebuild) may outlive the response: a
    // session the request opened is ended only once that work is done too.
    if (handle || background.length > 0) {
      c.executionCtx.waitUntil(Promise.allSettled(background).then(() => c.get("dbHandle")?.close()));
    }
    const duration = performance.now() - started;
    const tier = c.get("cacheTier");
    const dbMs = c.get("dbMs");
    let timing = `total;dur=${duration.toFixed(1)}`;
    if (tier) timing += `, tenant;desc=${tier}`;
    if (dbMs >= 0) timing += `, db;dur=${dbMs.toFixed(1)}`;
    const headers = c.res.headers;
    headers.set("X-Request-Id", requestId);
    headers.set("Server-Timing", timing);
    logRequest(c, requestId, duration, { tenant: c.get("tenant")?.slug, tier, job_ids: c.get("jobIds") });
  }
});

/**
 * One-shot statements (lookups, the feed): over Neon's SQL-over-HTTP, one fetch each on
 * connections Neon keeps, so a request never pays a Postgres startup and cached plans survive
 * it. Nothing to open or close.
 */
export function getDb(c: Context<HonoEnv>): Db {
  return openHttpDb(c.env);
}

/** Raw one-shot statements over the same transport as getDb. */
export function getSql(c: Context<HonoEnv>): Queryable {
  return openSql(c.env);
}

/** getSql for keyset pages: each statement planned to walk its index in order (openKeysetSql). */
export function getKeysetSql(c: Context<HonoEnv>): Queryable {
  return openKeysetSql(c.env);
}

/** A WebSocket session for interactive transactions, opened lazily and ended after the response. */
export function getSessionDb(c: Context<HonoEnv>): Database {
  let handle = c.get("dbHandle");
  if (!handle) {
    handle = openDb(c.env);
    c.set("dbHandle", handle);
  }
  return handle.db;
}

/**
 * Where a membership change (an admin's, a leave, a user's save or erasure) drops the cached
 * membership; the second drop outlives the response.
 */
export function memberCache(c: Context<HonoEnv>): ForgetDeps {
  return {
    kv: c.env.TENANT_CACHE,
    waitUntil: (p) => c.executionCtx.waitUntil(p),
    redeleteAfterMs: redeleteAfterMs(c.env.MEMBERSHIP_REDELETE_SECONDS),
  };
}

/** Work that may outlive the response; the request's pool stays open until it settles. */
export function defer(c: Context<HonoEnv>, work: Promise<unknown>): void {
  c.get("background").push(work);
  c.executionCtx.waitUntil(work);
}

/**
 * Times a database call into the request's Server-Timing `db` entry, which is there whenever
 * the request called the database (dbMs starts at -1: none).
 */
export async function timed<T>(c: Context<HonoEnv>, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    c.set("dbMs", Math.max(c.get("dbMs"), 0) + (performance.now() - started));
  }
}
