import { sql } from "drizzle-orm";
import { attempt, type Database, type DbError } from "../../../common/db";
import type { Result } from "../../../common/result";

export type RefreshOutcome = { refreshed: boolean; duration_ms: number };

/**
 * Refreshes private.mv_user_communities. The function holds an advisory lock, so when another
 * refresh is running this returns `refreshed: false` at once. A full refresh may outlast the
 * app's 30 s statement limit on a large database, so this transaction lifts it; the swap to the
 * new copy still gives up after 5 s of waiting for the view's readers (db/migrations/0021), and
 * the next run tries again.
 */
export function refreshUserCommunities(db: Database): Promise<Result<RefreshOutcome, DbError>> {
  const started = Date.now();
  return attempt(
    () =>
      db.transaction(async (tx) => {
        await tx.execute(sql`SET LOCAL statement_timeout = '10min'`);
        const { rows } = await tx.execute<{ refreshed: boolean }>(
          sql`SELECT private.refresh_user_communities() AS refreshed`,
        );
        return { refreshed: rows[0]?.refreshed === true, duration_ms: Date.now() - started };
      }),
    11 * 60_000,
  );
}
