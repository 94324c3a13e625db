import type { DbHandle } from "../../common/db";

/** Bindings come from `wrangler types` (worker-configuration.d.ts); Variables are per request. */
export type Bindings = TenantEnv;

export interface Variables {
  requestId: string;
  /** Opened on first use by `getDb`, ended after the response. */
  dbHandle?: DbHandle;
  /** Milliseconds spent waiting on the database, reported in Server-Timing. */
  dbMs: number;
}

export interface HonoEnv {
  Bindings: Bindings;
  Variables: Variables;
}
