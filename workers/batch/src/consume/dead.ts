import { attempt, type DbError, type Queryable } from "../../../common/db";
import type { Result } from "../../../common/result";

export interface DeadJobRecord {
  jobId: string | null;
  queue: string;
  kind: "invalid" | "rejected" | "exhausted";
  message: unknown;
  error: string;
  attempts: number;
}

/**
 * Stores jobs that will not be written, in one statement. A job that dies again after a replay
 * (out of retries again, or refused this time: its sender left the community meanwhile) updates
 * its row, which then says why and is pending again (replayed_at cleared; replay_count keeps the
 * history); a redelivered rejection, with no replay between, changes nothing.
 */
export function recordDeadJobs(pool: Queryable, records: DeadJobRecord[]): Promise<Result<unknown, DbError>> {
  return attempt(() =>
    pool.query(
      `INSERT INTO public.dead_jobs (job_id, queue, kind, message, error, attempts)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::int[])
       ON CONFLICT (job_id) DO UPDATE
         SET kind = excluded.kind, error = excluded.error, message = excluded.message,
             attempts = public.dead_jobs.attempts + excluded.attempts, replayed_at = NULL
         WHERE excluded.kind = 'exhausted' OR public.dead_jobs.replayed_at IS NOT NULL`,
      [
        records.map((r) => r.jobId),
        records.map((r) => r.queue),
        records.map((r) => r.kind),
        records.map((r) => JSON.stringify(r.message ?? null)),
        records.map((r) => r.error.slice(0, 2000)),
        records.map((r) => r.attempts),
      ],
    ),
  );
}
