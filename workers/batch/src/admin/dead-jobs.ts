import type { DeadJobKind } from "../../../../db/schema/dead-jobs";
import type { Queryable } from "../../../common/db";
import { attempt, type DbError } from "../../../common/db";
import { isNewerFormat, JobMessage, MESSAGE_VERSION, QUEUES } from "../../../common/jobs";
import { pageOf } from "../../../common/pages";
import { sendJobs } from "../../../common/queues";
import { err, ok, type Result } from "../../../common/result";
import type { Env } from "../env";

export interface DeadJobSummary {
  id: string;
  job_id: string | null;
  user_id: string | null;
  queue: string;
  kind: DeadJobKind;
  error: string;
  attempts: number;
  created_at: string;
  replayed_at: string | null;
  replay_count: number;
}

/**
 * A time as RFC 3339 text at Postgres' full microsecond precision, as every time the API gives
 * (the feed's, a tenant's updated_at): a list cursor cut to a JS Date's milliseconds sorts before
 * the row it came from, so the next page would skip every row of the same millisecond (a batch's
 * dead jobs share one timestamp).
 */
const rfc3339 = (time: string) => `to_json(${time}) #>> '{}'`;

const SUMMARY_COLUMNS = `d.id, d.job_id, d.user_id, d.queue, d.kind, d.error, d.attempts,
       ${rfc3339("d.created_at")} AS created_at, ${rfc3339("d.replayed_at")} AS replayed_at,
       d.replay_count`;

/**
 * Newest first, keyset-paged on (created_at, id): `before` is the last row of the previous page.
 * One row past the page tells whether another page follows, so a page that happens to be full
 * is not followed by an empty one. One user's (`userId`) are found by dead_jobs.user_id's index.
 */
export function listDeadJobs(
  sql: Queryable,
  options: {
    kind?: string;
    queue?: string;
    /** true: not replayed since they last died; false: replayed. */
    pending?: boolean;
    userId?: string;
    limit: number;
    before?: { created_at: string; id: string };
  },
): Promise<Result<{ items: DeadJobSummary[]; more: boolean }, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<DeadJobSummary>(
      // ORDER BY names d.created_at: the bare name would sort by the text column of that alias.
      `SELECT ${SUMMARY_COLUMNS}
         FROM public.dead_jobs d
        WHERE ($1::text IS NULL OR d.kind = $1)
          AND ($2::timestamptz IS NULL OR (d.created_at, d.id) < ($2::timestamptz, $3::uuid))
          AND ($5::uuid IS NULL OR d.user_id = $5)
          AND ($6::text IS NULL OR d.queue = $6)
          AND ($7::boolean IS NULL OR (d.replayed_at IS NULL) = $7)
        ORDER BY d.created_at DESC, d.id DESC
        LIMIT $4`,
      [
        options.kind ?? null,
        options.before?.created_at ?? null,
        options.before?.id ?? null,
        options.limit + 1,
        options.userId ?? null,
        options.queue ?? null,
        options.pending ?? null,
      ],
    );
    const { rows: items, more } = pageOf(rows, options.limit);
    return { items, more };
  });
}

export interface DeadJobCounts {
  kind: DeadJobKind;
  queue: string;
  /** Not replayed since they last died. */
  pending: number;
  total: number;
  oldest_pending: string | null;
}

/**
 * Counts per kind and queue, for a dashboard or an alert (pending exhausted jobs are writes still
 * owed). dead_jobs is small by design (retention, cron/prune-dead-jobs.ts), so a scan is fine.
 */
export function countDeadJobs(sql: Queryable): Promise<Result<DeadJobCounts[], DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<DeadJobCounts>(
      `SELECT kind, queue,
              (count(*) FILTER (WHERE replayed_at IS NULL))::int AS pending,
              count(*)::int AS total,
              ${rfc3339("min(created_at) FILTER (WHERE replayed_at IS NULL)")} AS oldest_pending
         FROM public.dead_jobs
        GROUP BY kind, queue
        ORDER BY kind, queue`,
    );
    return rows;
  });
}

/** One dead job with its stored message, for an operator deciding whether to replay it. */
export function getDeadJob(
  sql: Queryable,
  id: string,
): Promise<Result<(DeadJobSummary & { message: unknown }) | null, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<DeadJobSummary & { message: unknown }>(
      `SELECT ${SUMMARY_COLUMNS}, d.message FROM public.dead_jobs d WHERE d.id = $1`,
      [id],
    );
    return rows[0] ?? null;
  });
}

/**
 * Discards one dead job: an operator's decision that it will never be replayed (an exhausted job
 * is otherwise kept as a write still owed, and the daily cron keeps warning about it).
 */
export function discardDeadJob(sql: Queryable, id: string): Promise<Result<DeadJobSummary | null, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<DeadJobSummary>(
      `DELETE FROM public.dead_jobs d WHERE d.id = $1 RETURNING ${SUMMARY_COLUMNS}`,
      [id],
    );
    return rows[0] ?? null;
  });
}

export interface BulkDiscard {
  discarded: number;
  /** Whether more such jobs wait for another call. */
  more: boolean;
}

/**
 * After an incident: discards the oldest dead jobs of a kind (and queue) that died before
 * `before`, up to `limit` a call, so an operator calls it until `more` is false. `before` bounds
 * it to what the operator has looked at: jobs dying meanwhile are not swept up with them.
 */
export function discardDeadJobs(
  sql: Queryable,
  options: { kind: DeadJobKind; queue?: string; before: string; limit: number },
): Promise<Result<BulkDiscard, DbError>> {
  return attempt(async () => {
    const { rows } = await sql.query<BulkDiscard>(
      `WITH doomed AS (
         SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM public.dead_jobs
          WHERE kind = $1 AND ($2::text IS NULL OR queue = $2) AND created_at < $3::timestamptz
          ORDER BY created_at, id
          LIMIT $4::int + 1
       ), gone AS (
         DELETE FROM public.dead_jobs d USING doomed WHERE d.id = doomed.id AND doomed.n <= $4 RETURNING 1
       )
       SELECT (SELECT count(*) FROM gone)::int AS discarded, (SELECT count(*) FROM doomed) > $4 AS more`,
      [options.kind, options.queue ?? null, options.before, options.limit],
    );
    return rows[0] ?? { discarded: 0, more: false };
  });
}

export type ReplayError =
  | { kind: "not_found" }
  | { kind: "not_replayable"; message: string }
  | { kind: "queue"; message: string }
  | DbError;

export interface Replayed {
  id: string;
  job_id: string;
  queue: string;
}

/**
 * Sends dead jobs back to their own queues, unchanged (sendBatch per queue), then marks them
 * replayed. Send first: a mark that fails after the send leaves a job to be replayed again, which
 * writes nothing twice (its job id is the idempotency key of its write); the other order could
 * mark jobs that were never sent, and a bulk replay would pass them by. The mark counts the
 * replay, but says "replayed" only of a row that has not died again since it was read (`died`):
 * a consumer can refuse the job again before the mark lands, and that death must stay pending.
 */
async function resend(
  sql: Queryable,
  env: Env,
  jobs: { id: string; died: string; job: JobMessage }[],
): Promise<Result<Replayed[], ReplayError>> {
  const sent = await sendJobs(
    env,
    jobs.map((j) => j.job),
  );
  if (!sent.ok) return err({ kind: "queue", message: sent.error });
  const marked = await attempt(() =>
    sql.query(
      `UPDATE public.dead_jobs d
          SET replay_count = d.replay_count + 1,
              replayed_at = CASE WHEN d.created_at = r.died THEN now() ELSE d.replayed_at END
         FROM unnest($1::uuid[], $2::timestamptz[]) AS r(id, died)
        WHERE d.id = r.id`,
      [jobs.map((j) => j.id), jobs.map((j) => j.died)],
    ),
  );
  if (!marked.ok) return marked;
  return ok(jobs.map(({ id, job }) => ({ id, job_id: job.job_id, queue: QUEUES[job.queue].queue })));
}

const NEWER_FORMAT =
  "the stored message is of a newer format than this worker reads: deploy the batch worker that reads it, then replay";

/** Replays one dead job, whatever its kind and however often it was replayed before. */
export async function replayDeadJob(
  sql: Queryable,
  env: Env,
  id: string,
): Promise<Result<{ job_id: string; queue: string }, ReplayError>> {
  const found = await attempt(() =>
    sql.query<{ message: unknown; died: string }>(
      "SELECT message, to_json(created_at) #>> '{}' AS died FROM public.dead_jobs WHERE id = $1",
      [id],
    ),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  if (!row) return err({ kind: "not_found" });
  if (isNewerFormat(row.message)) return err({ kind: "not_replayable", message: NEWER_FORMAT });
  const job = JobMessage.safeParse(row.message);
  if (!job.success) return err({ kind: "not_replayable", message: "the stored message is not a valid job" });
  const sent = await resend(sql, env, [{ id, died: row.died, job: job.data }]);
  if (!sent.ok) return sent;
  return ok({ job_id: job.data.job_id, queue: QUEUES[job.data.queue].queue });
}

export interface BulkReplay {
  replayed: Replayed[];
  /**
   * Rows with a job id whose stored message is no valid job any more (the job schema changed
   * since): now kept as `invalid`, so the next call walks past them. Messages without a job id are
   * never offered: nothing in them could be replayed.
   */
  not_replayable: string[];
  /** Whether more pending jobs wait for another call. */
  more: boolean;
}

/**
 * The most jobs one read of a bulk replay takes. The largest job the API takes (an event edit of
 * 20,000 characters that JSON escapes, escaped again in the answer) is ~80 KB of answer, so a
 * read of 101 rows is ~8 MB, within the 10 MiB Neon's SQL-over-HTTP answers (a test holds it).
 * A call of more reads page after page.
 */
const REPLAY_PAGE_JOBS = 100;

/**
 * After an outage: replays the oldest dead jobs of a kind that were not replayed since they last
 * died (a job that dies again is pending again, see recordDeadJobs), up to `limit` a call, so an
 * operator calls it until `more` is false. Read and sent REPLAY_PAGE_JOBS at a time: a failure
 * answers an error, and what the pages before it sent stays replayed (each write happens once).
 */
export async function replayDeadJobs(
  sql: Queryable,
  env: Env,
  options: { kind: "exhausted" | "rejected"; queue?: string; limit: number },
): Promise<Result<BulkReplay, ReplayError>> {
  const all: BulkReplay = { replayed: [], not_replayable: [], more: true };
  while (all.more && all.replayed.length + all.not_replayable.length < options.limit) {
    const left = options.limit - all.replayed.length - all.not_replayable.length;
    const page = await replayPage(sql, env, { ...options, limit: Math.min(left, REPLAY_PAGE_JOBS) });
    if (!page.ok) return page;
    all.replayed.push(...page.value.replayed);
    all.not_replayable.push(...page.value.not_replayable);
    all.more = page.value.more;
  }
  return ok(all);
}

async function replayPage(
  sql: Queryable,
  env: Env,
  options: { kind: "exhausted" | "rejected"; queue?: string; limit: number },
): Promise<Result<BulkReplay, ReplayError>> {
  const found = await attempt(() =>
    sql.query<{ id: string; message: unknown; died: string }>(
      `SELECT id, message, to_json(created_at) #>> '{}' AS died FROM public.dead_jobs
        WHERE kind = $1 AND replayed_at IS NULL AND job_id IS NOT NULL
          AND ($2::text IS NULL OR queue = $2)
          -- isNewerFormat: left pending for the worker that reads them, not judged invalid here
          AND CASE WHEN jsonb_typeof(message -> 'v') = 'number' THEN (message ->> 'v')::numeric <= $4 ELSE true END
        ORDER BY created_at, id
        LIMIT $3`,
      [options.kind, options.queue ?? null, options.limit + 1, MESSAGE_VERSION],
    ),
  );
  if (!found.ok) return found;
  const page = pageOf(found.value.rows, options.limit);
  const jobs: { id: string; died: string; job: JobMessage }[] = [];
  const notReplayable: string[] = [];
  for (const row of page.rows) {
    const job = JobMessage.safeParse(row.message);
    if (job.success) jobs.push({ id: row.id, died: row.died, job: job.data });
    else notReplayable.push(row.id);
  }
  if (notReplayable.length > 0) {
    const moved = await attempt(() =>
      sql.query("UPDATE public.dead_jobs SET kind = 'invalid', error = $2 WHERE id = ANY($1::uuid[])", [
        notReplayable,
        "the stored message is no valid job any more; not replayable",
      ]),
    );
    if (!moved.ok) return moved;
  }
  const sent = jobs.length > 0 ? await resend(sql, env, jobs) : ok([]);
  if (!sent.ok) return sent;
  return ok({
    replayed: sent.value,
    not_replayable: notReplayable,
    more: page.more,
  });
}
