import type { DbError, Queryable } from "../../../common/db";
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

/** Judges and writes one operation's jobs, in one statement where it can. */
export type Handler<J extends JobMessage> = (sql: Queryable, jobs: J[]) => Promise<Result<Outcomes, DbError>>;
