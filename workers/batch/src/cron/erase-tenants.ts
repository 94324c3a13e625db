import { sql } from "drizzle-orm";
import { attempt, type Database, type DbError, type Queryable } from "../../../common/db";
import { err, ok, type Result } from "../../../common/result";
import { DELETION_BUDGET_MS, deleteInChunks } from "./chunks";

/** Rows a chunk deletes (a post's likes and comments go with it, uncounted). */
const CHUNK = 5_000;
/** Communities a run takes up; more wait for the next run, five minutes on. */
const PER_RUN = 10;

/**
 * What a run did for one community: rows deleted, whether its row went (erased), or whether the
 * run's time ran out first (more: the next run goes on).
 */
export type ErasureReport = { tenant_id: string; deleted: number; erased: boolean; more: boolean };

/** A community's erasure that failed part way: what it deleted stays deleted, the next run goes on. */
export type ErasureError = DbError & { tenant_id?: string };

/**
 * The row goes last, once the chunks have drained what its indexes find: its cascades scan
 * posts, events and notifications for the rest (db/migrations/0045), which on a large database
 * outlasts the role's 30 s, so this transaction lifts it, as the view refresh does.
 */
function eraseRow(db: Database, tenantId: string): Promise<Result<boolean, DbError>> {
  return attempt(
    () =>
      db.transaction(async (tx) => {
        await tx.execute(sql`SET LOCAL statement_timeout = '10min'`);
        const { rows } = await tx.execute<{ erased: boolean }>(
          sql`SELECT private.erase_tenant(${tenantId}) AS erased`,
        );
        return rows[0]?.erased === true;
      }),
    11 * 60_000,
  );
}

/**
 * Erases the communities an operator asked to (POST /admin/tenants/{id}/erasure), oldest request
 * first: each a chunk a statement (private.erase_tenant_chunk) until none is left, then its row.
 * A community left part way when the run's time is spent is taken up again by the next run.
 */
export async function eraseTenants(
  pool: Queryable,
  db: Database,
  now: () => number = Date.now,
): Promise<Result<ErasureReport[], ErasureError>> {
  const pending = await attempt(() =>
    pool.query<{ id: string }>(
      `SELECT id FROM public.tenants
        WHERE erasure_requested_at IS NOT NULL AND NOT is_active
        ORDER BY erasure_requested_at, id LIMIT $1`,
      [PER_RUN],
    ),
  );
  if (!pending.ok) return pending;
  const started = now();
  const reports: ErasureReport[] = [];
  for (const { id } of pending.value.rows) {
    if (reports.length > 0 && now() - started >= DELETION_BUDGET_MS) break;
    // One budget for the run, not one a community: ten communities could otherwise hold the
    // five-minute cron for ten minutes.
    const drained = await deleteInChunks(
      async () => {
        const { rows } = await pool.query<{ deleted: number; drained: boolean }>(
          "SELECT deleted, drained FROM private.erase_tenant_chunk($1, $2)",
          [id, CHUNK],
        );
        return { deleted: Number(rows[0]?.deleted ?? 0), done: rows[0]?.drained !== false };
      },
      now,
      started,
    );
    if (!drained.ok) return err({ ...drained.error, tenant_id: id });
    if (drained.value.more) {
      reports.push({ tenant_id: id, deleted: drained.value.deleted, erased: false, more: true });
      break;
    }
    const erased = await eraseRow(db, id);
    if (!erased.ok) return err({ ...erased.error, tenant_id: id });
    reports.push({ tenant_id: id, deleted: drained.value.deleted, erased: erased.value, more: false });
  }
  return ok(reports);
}
