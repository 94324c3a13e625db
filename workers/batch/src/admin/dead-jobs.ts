import type { Queryable } from "../../../common/db";
import { attempt, type DbError } from "../../../common/db";
import { JobMessage, QUEUES } from "../../../common/jobs";
import { err, ok, type Result } from "../../../common/result";
import type { Env } from "../env";

export interface DeadJobSummary {
  id: string;
  job_id: string | null;
  queue: string;
  kind: string;
  error: string;
  attempts: number;
  created_at: string;
  replayed_at: string | null;
  replay_count: number;
}

/**
 * Newest first, keyset-paged on (created_at, id): `before` is the last row of the previous page.
 * created_at goes out at Postgres' full microsecond precision: a cursor cut to a JS Date's
 * milliseconds sorts before the row it came from, so the next page would skip every row of the
 * same millisecond (a batch's dead jobs share one timestamp).
 */
export function listDeadJobs(
  sql: Queryable,
  options: { kind?: string; limit: number; before?: { created_at: string; id: string } },
): Promise<Result<DeadJobSummary[], DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<DeadJobSummary>(
      // ORDER BY names d.created_at: the bare name would sort by the text column of that alias.
      `SELECT d.id, d.job_id, d.queue, d.kind, d.error, d.attempts,
              to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
              d.replayed_at, d.replay_count
         FROM public.dead_jobs d
        WHERE ($1::text IS NULL OR d.kind = $1)
          AND ($2::timestamptz IS NULL OR (d.created_at, d.id) < ($2::timestamptz, $3::uuid))
        ORDER BY d.created_at DESC, d.id DESC
        LIMIT $4`,
      [options.kind ?? null, options.before?.created_at ?? null, options.before?.id ?? null, options.limit],
    );
    return rows;
  });
}

export type ReplayError =
  | { kind: "not_found" }
  | { kind: "not_replayable"; message: string }
  | { kind: "queue"; message: string }
  | DbError;

/**
 * Sends a dead job back to its own queue, unchanged: its job id is the idempotency key of its
 * write, so replaying it twice still writes once.
 */
export async function replayDeadJob(
  sql: Queryable,
  env: Env,
  id: string,
): Promise<Result<{ job_id: string; queue: string }, ReplayError>> {
  const found = await attempt(() =>
    sql.query<{ message: unknown }>("SELECT message FROM public.dead_jobs WHERE id = $1", [id]),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (!row) return err({ kind: "not_found" });
  const job = JobMessage.safeParse(row.message);
  if (!job.success) return err({ kind: "not_replayable", message: "the stored message is not a valid job" });
  const target = QUEUES[job.data.queue];
  try {
    await env[target.binding].send(job.data, { contentType: "json" });
  } catch (e) {
    return err({ kind: "queue", message: e instanceof Error ? e.message : String(e) });
  }
  const marked = await attempt(() =>
    sql.query(
      "UPDATE public.dead_jobs SET replayed_at = now(), replay_count = replay_count + 1 WHERE id = $1",
      [id],
    ),
  );
  if (!marked.ok) return marked;
  return ok({ job_id: job.data.job_id, queue: target.queue });
}
