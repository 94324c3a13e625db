import type { DbHandle } from "../../common/db";
import type { VerifiedUser } from "./auth/jwt";
import type { Tier } from "./tenancy/cache";
import type { TenantInfo } from "./tenancy/queries";

/** Bindings come from `wrangler types` (worker-configuration.d.ts); Variables are per request. */
export type Bindings = TenantEnv;

export interface Variables {
  requestId: string;
  /** A WebSocket session, opened on first use by `getSessionDb`, ended after the response. */
  dbHandle?: DbHandle;
  /** Promises handed to waitUntil through `defer`; the pool is ended after them. */
  background: Promise<unknown>[];
  /** Milliseconds spent waiting on the database, reported in Server-Timing; -1 before any call. */
  dbMs: number;
  /** Set by resolveTenant. */
  tenant: TenantInfo;
  /** Which cache tier answered the tenant lookup, for Server-Timing and the log line. */
  cacheTier?: Tier;
  /** Set by authenticate: the verified token's user, or null when anonymous. */
  user: VerifiedUser | null;
  /** Set by the enqueue routes: the ids of the jobs they send, for the request's log line. */
  jobIds?: string[];
}

export interface HonoEnv {
  Bindings: Bindings;
  Variables: Variables;
}
