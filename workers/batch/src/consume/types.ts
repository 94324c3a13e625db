import { DENIAL_MESSAGES, type Denial } from "../../../common/authz";
import type { DbError, Queryable } from "../../../common/db";
import type { JobMessage } from "../../../common/jobs";
import { ok, type Result } from "../../../common/result";

/**
 * What happened to one job. Everything but `retry` is final and acknowledged: a duplicate was
 * written before (at-least-once delivery), a `muted` notification had only recipients who muted
 * it, `stale`/`superseded` content updates lost to newer ones, `rejected` ones are recorded in
 * dead_jobs.
 */
export type Outcome =
  | { kind: "written" }
  | { kind: "duplicate" }
  | { kind: "muted" }
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
  /** A notification allowed, whose every recipient muted it (send_notifications, 0030). */
  muted?: boolean;
}

/** A job that broke a rule of who may do what: acked, and recorded in dead_jobs with the reason. */
export function rejected(denial: Denial): Outcome {
  return { kind: "rejected", reason: DENIAL_MESSAGES[denial] };
}

export function outcomesOf(verdicts: Verdict[]): Outcomes {
  const outcomes: Outcomes = new Map();
  for (const v of verdicts) {
    const kind = v.written ? "written" : v.muted ? "muted" : "duplicate";
    outcomes.set(v.job_id, v.denial ? rejected(v.denial) : { kind });
  }
  return outcomes;
}

/**
 * SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): the database
 * refused a row for what it holds, which no retry changes. Validation keeps out what we foresee;
 * these are what it did not.
 */
export function isRowRefusal(e: DbError): boolean {
  return e.kind === "query" && (e.code?.startsWith("22") === true || e.code?.startsWith("23") === true);
}

/** A job whose row the database refused (isRowRefusal), rejected with the SQLSTATE as its reason. */
export function refusedByDatabase(e: DbError): Outcome {
  return {
    kind: "rejected",
    reason: `the database refused the job's data (SQLSTATE ${e.code ?? "unknown"})`,
  };
}

/**
 * A handler whose jobs are independent (no coalescing between them), run again one job at a time
 * when the database refuses a row of the batch's statement: that statement fails whole, and
 * without this one refused row would take every job of its batch through all their retries into
 * the dead-letter queue. The refused jobs are rejected; a failure of another kind still retries.
 */
export function isolatingRefusals<J extends JobMessage>(handler: Handler<J>): Handler<J> {
  return async (sql, jobs) => {
    const all = await handler(sql, jobs);
    if (all.ok || !isRowRefusal(all.error)) return all;
    const outcomes: Outcomes = new Map();
    for (const job of jobs) {
      const one = await handler(sql, [job]);
      if (one.ok) {
        const outcome = one.value.get(job.job_id);
        if (outcome) outcomes.set(job.job_id, outcome);
      } else if (isRowRefusal(one.error)) {
        outcomes.set(job.job_id, refusedByDatabase(one.error));
      } else {
        return one;
      }
    }
    return ok(outcomes);
  };
}
