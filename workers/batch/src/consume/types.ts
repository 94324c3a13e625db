import { DENIAL_MESSAGES, type Denial } from "../../../common/authz";
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

/**
 * A write statement's verdict per job (the consumer's statements all return these): the rule a
 * job broke, or whether its rows were written now or had been before.
 */
export interface Verdict {
  job_id: string;
  denial: Denial | null;
  written: boolean;
}

/** A job that broke a rule of who may do what: acked, and recorded in dead_jobs with the reason. */
export function rejected(denial: Denial): Outcome {
  return { kind: "rejected", reason: DENIAL_MESSAGES[denial] };
}

export function outcomesOf(verdicts: Verdict[]): Outcomes {
  const outcomes: Outcomes = new Map();
  for (const v of verdicts) {
    outcomes.set(v.job_id, v.denial ? rejected(v.denial) : { kind: v.written ? "written" : "duplicate" });
  }
  return outcomes;
}
