import type { DbError } from "../../../common/db";
import type { JobMessage } from "../../../common/jobs";
import type { Result } from "../../../common/result";

/**
 * What happened to one job. Everything but `retry` is final and acknowledged: a duplicate was
 * written before (at-least-once delivery), `stale`/`superseded` content updates lost to newer
 * ones, `rejected` ones are recorded in dead_jobs.
 */
export type Outcome =
  | { kind: "written" }
  | { kind: "duplicate" }
  | { kind: "stale" }
  | { kind: "superseded" }
  | { kind: "rejected"; reason: string }
  | { kind: "retry"; error: DbError };

/** Per job id. A handler returns an outcome for every job it was given, or a database failure. */
export type Outcomes = Map<string, Outcome>;

export type Handler<J extends JobMessage> = (
  pool: Queryable,
  jobs: J[],
  members: MemberMap,
) => Promise<Result<Outcomes, DbError>>;

export interface Queryable {
  // biome-ignore lint/suspicious/noExplicitAny: rows are typed by each query's caller
  query<R = any>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export interface MemberMap {
  get(tenantId: string, userId: string): { role: string; is_admin: boolean } | undefined;
}
