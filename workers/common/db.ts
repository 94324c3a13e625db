import { neon, neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle as drizzleHttp } from "drizzle-orm/neon-http";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import * as schema from "../../db/schema";
import { redactCredentials } from "./log";
import { err, ok, type Result } from "./result";

/** A session over a WebSocket: what interactive transactions need. */
export type Database = NeonDatabase<typeof schema>;

/** Any drizzle client of our schema, HTTP or session: what one-shot statements take. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DbBindings {
  DATABASE_URL: string;
  /**
   * Local development only: host:port of our WebSocket-to-TCP proxy (db/local/proxy.ts). Set in
   * .dev.vars or by the tests, never in a deployed config: it turns off TLS on the socket.
   */
  LOCAL_DB_PROXY?: string;
}

export const CONNECT_TIMEOUT_MS = 2_000;
export const QUERY_TIMEOUT_MS = 10_000;

/**
 * Points the driver at our local proxy. A deployed worker never has LOCAL_DB_PROXY, so the
 * driver keeps its defaults (TLS WebSockets to Neon's proxy, pipelined connect).
 */
function useLocalProxy(localProxy: string): void {
  neonConfig.wsProxy = (host, port) => `${localProxy}/v1?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  // Plain Postgres does not accept the password before it asks for it, as Neon's proxy does.
  neonConfig.pipelineConnect = false;
  neonConfig.pipelineTLS = false;
  neonConfig.fetchEndpoint = () => `http://${localProxy}/sql`;
}

/** Anything that runs one parameterised statement: the HTTP client below, or a Pool. */
export interface Queryable {
  // biome-ignore lint/suspicious/noExplicitAny: rows are typed by each query's caller
  query<R = any>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/**
 * One-shot statements over Neon's SQL-over-HTTP endpoint: one fetch a statement, on connections
 * Neon's proxy keeps open, so no connection setup per request or batch (a WebSocket Pool pays a
 * Postgres startup and authentication every invocation, since sockets cannot outlive it).
 * For anything that needs a session or an interactive transaction, use openDb.
 */
export function openSql(env: DbBindings): Queryable {
  return overHttp(env, false);
}

/**
 * openSql for keyset pages (`WHERE key > $last ORDER BY key LIMIT n`), whose plan must walk an
 * index in order and stop at the page's end: each statement is planned with bitmap scans off. A
 * bitmap scan reads everything its index finds before the LIMIT applies, then sorts it, and the
 * planner takes one whenever it guesses few rows follow the key: the newest comments of a hot
 * post, say, which its statistics place among the oldest posts' (60,000 read and sorted for a
 * page of 200: 178 ms, against 1.6 ms in order). set_config(…, true) lasts one transaction, so
 * it rides with the statement in a non-interactive transaction: still one round trip.
 */
export function openKeysetSql(env: DbBindings): Queryable {
  return overHttp(env, true);
}

function overHttp(env: DbBindings, keyset: boolean): Queryable {
  if (env.LOCAL_DB_PROXY) useLocalProxy(env.LOCAL_DB_PROXY);
  const sql = neon(env.DATABASE_URL, { fullResults: true });
  return {
    query: async <R>(text: string, params: unknown[] = []) => {
      const fetchOptions = { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) };
      const result = keyset
        ? (
            await sql.transaction(
              [sql.query("SELECT set_config('enable_bitmapscan', 'off', true)"), sql.query(text, params)],
              { fetchOptions, readOnly: true },
            )
          )[1]
        : await sql.query(text, params, { fetchOptions });
      // The caller's query decides the row shape, as with Pool.query<R>.
      return { rows: (result?.rows ?? []) as R[] };
    },
  };
}

const httpDbs = new Map<string, Db>();

/** One key per database and transport, for what an isolate keeps per connection string. */
function connectionKey(env: DbBindings): string {
  return `${env.DATABASE_URL}\n${env.LOCAL_DB_PROXY ?? ""}`;
}

/**
 * Drizzle over the same SQL-over-HTTP transport (see openSql): one fetch a statement. Kept per
 * isolate: it holds no socket and no request's I/O (each query fetches in its caller's
 * request), and building one walks the whole schema (~70 us in Node), which a request should
 * not pay.
 */
export function openHttpDb(env: DbBindings): Db {
  if (env.LOCAL_DB_PROXY) useLocalProxy(env.LOCAL_DB_PROXY);
  const key = connectionKey(env);
  let db = httpDbs.get(key);
  if (!db) {
    db = drizzleHttp({ client: neon(env.DATABASE_URL), schema });
    httpDbs.set(key, db);
  }
  return db;
}

export interface DbHandle {
  db: Database;
  pool: Pool;
  /** Ends the pool; pass to ctx.waitUntil once the request or batch is done. */
  close(): Promise<void>;
}

/**
 * A drizzle client over a fresh Neon WebSocket pool. Workers cannot keep sockets across
 * requests, so each request or batch opens its own pool and ends it when done.
 *
 * The session's limits (statement_timeout 30 s, idle_in_transaction_session_timeout 60 s), time
 * settings and isolation level are the role's defaults (db/migrations/0001, 0022, 0023), which
 * hold on every transport and through any pooler; a transaction that needs more sets its own
 * (SET LOCAL, as the view refresh does). Nothing more is sent: startup options failed every
 * connection through a transaction-mode pooler, Neon's `-pooler` endpoint or PgBouncer
 * ("unsupported startup parameter: options"), and with them every admin tenant write and every
 * cron run; and a pool-wide client timeout cut every statement at 10 s, the view refresh allowed
 * 10 minutes too (rolled back, so a view that took longer was never refreshed). `attempt`
 * bounds each caller's wait instead.
 */
export function openDb(env: DbBindings): DbHandle {
  if (env.LOCAL_DB_PROXY) useLocalProxy(env.LOCAL_DB_PROXY);
  const pool = new Pool({
    connectionString: env.DATABASE_URL,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    max: 4,
  });
  // An idle client's socket error must not become an uncaught exception.
  pool.on("error", () => undefined);
  let closed: Promise<void> | undefined;
  return {
    db: drizzle({ client: pool, schema }),
    pool,
    close: () => {
      closed ??= pool.end().catch(() => undefined);
      return closed;
    },
  };
}

export type DbError = {
  kind: "unavailable" | "timeout" | "query";
  message: string;
  /**
   * SQLSTATE, whenever the database answered with one (callers map a query fault's, e.g. 23505
   * -> 409); none when the connection or our wait ended first. And a query fault's constraint.
   */
  code?: string;
  constraint?: string;
};

/**
 * Whether a write that failed with this error may still have committed: the client stopped
 * waiting or lost the connection while the server may have carried the statement through.
 * Whatever caches the write would have changed must then be dropped as after a success. So may
 * a connection the server ended itself (08, 57P: a backend terminated or shut down, which can
 * come after the commit) and 40003, "statement completion unknown". Any other SQLSTATE (a
 * refused row, a deadlock, a read-only database, its statement_timeout) ended the statement's
 * transaction: it did not happen.
 */
export function mayHaveCommitted(e: DbError): boolean {
  return e.code === undefined || e.code === "40003" || /^(08|57P)/.test(e.code);
}

/** Runs `fn`, turning a driver failure or a slow database into a value. */
export async function attempt<T>(
  fn: () => Promise<T>,
  timeoutMs = QUERY_TIMEOUT_MS,
): Promise<Result<T, DbError>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Result<T, DbError>>((resolve) => {
    timer = setTimeout(
      () => resolve(err({ kind: "timeout", message: `database did not answer in ${timeoutMs} ms` })),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([fn().then((v) => ok(v)), timeout]);
  } catch (e) {
    // drizzle wraps the driver's error ("Failed query: ...") and keeps it as the cause.
    const source = (e instanceof Error && e.cause instanceof Error ? e.cause : e) as {
      message?: unknown;
      code?: unknown;
      constraint?: unknown;
    };
    // Log lines carry it: a malformed DATABASE_URL is quoted whole by the driver.
    const message = redactCredentials(typeof source.message === "string" ? source.message : String(e));
    // A SQLSTATE only: the database's answer. A socket's errno (ECONNRESET) is no answer.
    const code =
      typeof source.code === "string" && /^[0-9A-Z]{5}$/.test(source.code) ? source.code : undefined;
    // Faults that are the database's state, not the statement's, so the same call may succeed
    // later: no code (socket, fetch), 08 connection exception, 25006 a read-only transaction (a
    // replica, or a server that takes no writes for now), 40 deadlock and serialization failure,
    // 53 insufficient resources (53300: Neon's connection limit), 55P03 a lock not had within a
    // lock_timeout (the database's, if it sets one), 57P shutdown. The callers retry these (503
    // with Retry-After, or a queue retry); a 57014 cancel is our statement_timeout.
    if (code === "57014") return err({ kind: "timeout", message, code });
    if (code === undefined || code === "25006" || code === "55P03" || /^(08|40|53|57P)/.test(code)) {
      return err({ kind: "unavailable", message, code });
    }
    const constraint = typeof source.constraint === "string" ? source.constraint : undefined;
    return err({ kind: "query", message, code, constraint });
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** How long a successful health probe stands for the database in this isolate. */
const PING_FRESH_MS = 5_000;
const lastPing = new Map<string, number>();

/**
 * Health probe: a real round trip, bounded so a dead database answers fast. Over SQL-over-HTTP,
 * the transport of the hot reads, on connections Neon keeps: a public, unauthenticated probe must
 * not open a Postgres connection (startup, authentication) each time it is hit. A success stands
 * for PING_FRESH_MS in the isolate, so a flood of probes costs one query per isolate every few
 * seconds, not one each; a failure is never kept, so recovery shows on the next probe.
 */
export async function pingDb(env: DbBindings, timeoutMs = 2_500): Promise<Result<true, DbError>> {
  const key = connectionKey(env);
  const at = lastPing.get(key);
  if (at !== undefined && Date.now() - at < PING_FRESH_MS) return ok(true);
  const result = await attempt(() => openSql(env).query("SELECT 1"), timeoutMs);
  if (!result.ok) {
    lastPing.delete(key);
    return result;
  }
  lastPing.set(key, Date.now());
  return ok(true);
}
