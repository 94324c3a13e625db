import { sql } from "drizzle-orm";
import { attempt, type Database, type DbError } from "../../../common/db";
import { ok, type Result } from "../../../common/result";
import { positiveInteger } from "../../../common/vars";
import { type DeletionReport, deleteInChunks, upTo } from "./chunks";

const DEFAULT_RETENTION_DAYS = 30;
/** Rows a statement deletes: a broken producer can leave many, and each statement stays short. */
const CHUNK = 5_000;

export type PruneReport = DeletionReport & {
  /** Exhausted jobs not replayed within the retention: writes still waiting for an operator. */
  waiting_exhausted: number;
};

/** DEAD_JOBS_RETENTION_DAYS in whole days. */
export function retentionDays(value: string | undefined): number {
  return positiveInteger(value, DEFAULT_RETENTION_DAYS, "DEAD_JOBS_RETENTION_DAYS");
}

/**
 * Dead jobs carry users' payloads, so they are not kept for ever. Deleted once the retention has
 * passed since: their replay (replayed_at; had it died again, replayed_at would be clear), or
 * their last death (created_at) for malformed and refused jobs. An exhausted job never replayed
 * is a write that has not happened: it stays until an operator replays it, and is counted. One
 * without a job id is not: no replay can send it (replays need the id, the key of its write), so
 * it goes after the retention like a malformed one, rather than keep its payload for ever.
 */
export async function pruneDeadJobs(db: Database, days: number): Promise<Result<PruneReport, DbError>> {
  const cutoff = sql`now() - make_interval(days => ${days})`;
  const pruned = await deleteInChunks(async () => {
    const { rows } = await db.execute<{ n: number }>(sql`
      WITH doomed AS (
        SELECT id FROM public.dead_jobs
         WHERE (replayed_at IS NOT NULL AND replayed_at < ${cutoff})
            OR (replayed_at IS NULL AND (kind <> 'exhausted' OR job_id IS NULL) AND created_at < ${cutoff})
         LIMIT ${CHUNK}
      ), gone AS (
        DELETE FROM public.dead_jobs d USING doomed WHERE d.id = doomed.id RETURNING 1
      )
      SELECT count(*)::int AS n FROM gone`);
    return upTo(CHUNK, Number(rows[0]?.n ?? 0));
  });
  if (!pruned.ok) return pruned;
  const waiting = await attempt(() =>
    db.execute<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM public.dead_jobs
       WHERE kind = 'exhausted' AND replayed_at IS NULL AND job_id IS NOT NULL AND created_at < ${cutoff}`),
  );
  if (!waiting.ok) return waiting;
  return ok({
    retention_days: days,
    ...pruned.value,
    waiting_exhausted: Number(waiting.value.rows[0]?.n ?? 0),
  });
}
