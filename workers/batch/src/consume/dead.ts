import { attempt, type DbError, type Queryable } from "../../../common/db";
import { ok, type Result } from "../../../common/result";
import { runsWithin } from "../../../common/runs";
import { storableJson, storableText } from "../../../common/text";

export interface DeadJobRecord {
  jobId: string | null;
  queue: string;
  kind: "invalid" | "rejected" | "exhausted";
  message: unknown;
  error: string;
  attempts: number;
}

/**
 * The first record of each job id. One statement cannot update a row twice (ON CONFLICT DO
 * UPDATE fails with 21000), so a job id twice in a batch failed the record of the whole batch,
 * on every retry: a client's retry can put one job on a queue twice, and both copies can run out
 * of retries together. The later copies are the same job, on record with the first.
 */
function firstOfEachJob(records: DeadJobRecord[]): DeadJobRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    if (r.jobId === null) return true;
    if (seen.has(r.jobId)) return false;
    seen.add(r.jobId);
    return true;
  });
}

/** Guards the casts below: a message too malformed to name a user is kept, not an error. */
const UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/**
 * Stores jobs that will not be written, in one statement, each with the user it names while that
 * user exists (dead_jobs.user_id: a user's erasure deletes their dead jobs by it). A refused or
 * exhausted job of a user who no longer exists is left out: an erased user's jobs still in the
 * queues are refused (no longer a member) or run out of retries after the erasure, and would
 * bring their payloads back; no replay could write them anyway. (A malformed message is kept
 * whoever it names: it is evidence of a broken producer.) Should an erasure commit between this
 * statement's read of the user and its foreign-key check, the check fails and the batch is
 * retried, which then leaves the job out (db/migrations/0013 says why the key orders the two).
 * Likewise a job of a community that was erased (db/migrations/0045); one recorded while the
 * erasure ran is deleted by it, after the community's row (no foreign key orders the two, so a
 * record committed in the instant of that last statement may stay).
 *
 * A job that dies again after a replay (out of retries again, or refused this time: its sender
 * left the community meanwhile) updates its row, which then says why and since when (created_at:
 * its last death) and is pending again (replayed_at cleared; replay_count keeps the history); a
 * redelivered rejection, with no replay between, changes nothing. A replay is a new message, so
 * its refusal comes on a first delivery (attempts 1): that one is recorded even when it beats
 * the replay's own mark to the row (the mark then leaves it pending, see resend), where a
 * redelivery comes with attempts 2 or more.
 */
export async function recordDeadJobs(
  pool: Queryable,
  all: DeadJobRecord[],
): Promise<Result<unknown, DbError>> {
  const stored = firstOfEachJob(all).map((r) => ({
    ...r,
    message: storableJson(r.message),
    error: storableText(r.error.slice(0, 2000)),
  }));
  // Statement by statement, each within what one request to Neon may carry: a message's JSON
  // is escaped twice on the way (in an array literal, then in the request's JSON), 4 bytes a
  // character at worst, so 100 dead letters of the largest jobs were 16 MB, past its 10 MiB.
  // A later statement's failure retries the batch; what the earlier ones recorded is recorded.
  const runs = runsWithin(stored, (r) => 4 * (r.message.length + r.error.length), RECORD_REQUEST_BYTES);
  let last: Result<unknown, DbError> = ok(undefined);
  for (const records of runs) {
    last = await recordRun(pool, records);
    if (!last.ok) return last;
  }
  return last;
}

/** What one recording statement's values may take of Neon's 10 MiB request. */
const RECORD_REQUEST_BYTES = 8 * 1024 * 1024;

function recordRun(
  pool: Queryable,
  records: (Omit<DeadJobRecord, "message"> & { message: string })[],
): Promise<Result<unknown, DbError>> {
  return attempt(() =>
    pool.query(
      // A CASE, not a condition beside the join: Postgres may cast before it tests the pattern.
      `INSERT INTO public.dead_jobs (job_id, queue, kind, message, error, attempts, user_id)
       SELECT d.job_id, d.queue, d.kind, d.message, d.error, d.attempts, u.id
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::int[])
           AS d(job_id, queue, kind, message, error, attempts)
         CROSS JOIN LATERAL (
           SELECT CASE WHEN d.message ->> 'user_id' ~* '${UUID_PATTERN}'
                       THEN (d.message ->> 'user_id')::uuid END AS named,
                  CASE WHEN d.message ->> 'tenant_id' ~* '${UUID_PATTERN}'
                       THEN (d.message ->> 'tenant_id')::uuid END AS community
         ) n
         LEFT JOIN public.users u ON u.id = n.named
         LEFT JOIN public.tenants t ON t.id = n.community
        WHERE d.kind = 'invalid'
           OR ((n.named IS NULL OR u.id IS NOT NULL) AND (n.community IS NULL OR t.id IS NOT NULL))
       ON CONFLICT (job_id) DO UPDATE
         SET kind = excluded.kind, error = excluded.error, message = excluded.message,
             attempts = public.dead_jobs.attempts + excluded.attempts, replayed_at = NULL,
             created_at = excluded.created_at
         WHERE excluded.kind = 'exhausted' OR public.dead_jobs.replayed_at IS NOT NULL OR excluded.attempts = 1`,
      [
        records.map((r) => r.jobId),
        records.map((r) => r.queue),
        records.map((r) => r.kind),
        records.map((r) => r.message),
        records.map((r) => r.error),
        records.map((r) => r.attempts),
      ],
    ),
  );
}
