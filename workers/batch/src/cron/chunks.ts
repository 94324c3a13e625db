import type { DbError } from "../../../common/db";
import { ok, type Result } from "../../../common/result";

/** How long one run of a daily deletion goes on before it leaves the rest to the next day's. */
export const DELETION_BUDGET_MS = 60_000;

/**
 * Runs `deleteChunk`, one statement deleting at most `chunk` rows and answering how many it did,
 * until one deletes fewer (none are left) or the budget is spent (`more`: the next run goes on).
 * Each statement stays a short transaction, and a large backlog cannot hold the cron for long.
 */
export async function deleteInChunks(
  deleteChunk: () => Promise<Result<number, DbError>>,
  chunk: number,
  now: () => number = Date.now,
): Promise<Result<{ deleted: number; more: boolean }, DbError>> {
  const started = now();
  let deleted = 0;
  for (;;) {
    const n = await deleteChunk();
    if (!n.ok) return n;
    deleted += n.value;
    if (n.value < chunk) return ok({ deleted, more: false });
    if (now() - started >= DELETION_BUDGET_MS) return ok({ deleted, more: true });
  }
}
