import type { DbError, Queryable } from "../../../common/db";
import { ok, type Result } from "../../../common/result";
import { retention } from "../../../common/vars";
import { type DeletionReport, deleteInChunks, upTo } from "./chunks";

/** Rows a statement deletes: each stays a short transaction (a row is in four indexes). */
const CHUNK = 10_000;

/**
 * NOTIFICATIONS_RETENTION_DAYS in whole days; 0 (the default, or a value that is not a whole
 * number, which a log line says) keeps every notification: how long an inbox goes back is the
 * platform's call.
 */
export function notificationsRetentionDays(value: string | undefined): number {
  return retention(value, "NOTIFICATIONS_RETENTION_DAYS");
}

const CUTOFF = "now() - make_interval(days => $1::int)";
/** The first version-7 id of the cutoff's millisecond: its 48-bit Unix time in ms, then zeros. */
const FIRST_ID = `encode(substring(int8send(floor(date_part('epoch', ${CUTOFF}) * 1000)::bigint) from 3)
                  || '\\x00000000000000000000'::bytea, 'hex')::uuid`;

/**
 * One chunk ($2 rows) of the notifications older than $1 days, read or not, oldest first. Found on
 * the primary key: ids are time-ordered (UUID version 7, db/migrations/0016) and made when the row
 * is written, so every row written before the cutoff has an id below the cutoff's first id, and the
 * walk reads old rows alone, with no index on created_at for the consumer to keep up. created_at,
 * the job's time and never after the write, is checked too: a random id (a row written before 0016)
 * may sort before the cutoff's. So a notification written late (a dead job replayed days after it
 * was sent) goes once its write, not its job, is past the retention. The chunk is the key's range
 * up to its $2-th old id, deleted as one range: as a join of the ids picked, the planner hashed
 * them and read the whole table (291 ms a chunk of 10,000 in a table of 1,000,000; 44 ms as a
 * range).
 */
export const PRUNE_NOTIFICATIONS_SQL = `
  WITH gone AS (
    DELETE FROM public.notifications n
     WHERE n.id < ${FIRST_ID} AND n.created_at < ${CUTOFF}
       AND n.id <= coalesce(
             (SELECT o.id FROM public.notifications o
               WHERE o.id < ${FIRST_ID} AND o.created_at < ${CUTOFF}
               ORDER BY o.id OFFSET $2::int - 1 LIMIT 1),
             ${FIRST_ID})
    RETURNING 1
  )
  SELECT count(*)::int AS n FROM gone`;

/**
 * Deletes the notifications older than `days`, a chunk at a time, until none is left or the run's
 * budget is spent (the next day's run goes on from the oldest).
 */
export async function pruneNotifications(
  sql: Queryable,
  days: number,
  now: () => number = Date.now,
): Promise<Result<DeletionReport, DbError>> {
  const pruned = await deleteInChunks(async () => {
    const { rows } = await sql.query<{ n: number }>(PRUNE_NOTIFICATIONS_SQL, [days, CHUNK]);
    return upTo(CHUNK, Number(rows[0]?.n ?? 0));
  }, now);
  return pruned.ok ? ok({ retention_days: days, ...pruned.value }) : pruned;
}
