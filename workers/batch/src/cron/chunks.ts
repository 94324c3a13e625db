import { attempt, type DbError } from "../../../common/db";
import { ok, type Result } from "../../../common/result";

/** How long one run of a daily deletion goes on before it leaves the rest to the next day's. */
export const DELETION_BUDGET_MS = 60_000;
/** A chunk's wait: as long as the statement_timeout the database gives it (migration 0001). */
const CHUNK_TIMEOUT_MS = 30_000;

/** What a daily deletion reports: its retention, how many rows went, and whether more are left. */
export type DeletionReport = {
  retention_days: number;
  deleted: number;
  /** Whether the run stopped at its time budget with more to delete (the next run goes on). */
  more: boolean;
};

/** What one chunk's statement did: how many rows it deleted, and whether none is left after it. */
export type Chunk = { deleted: number; done: boolean };

/** A chunk of a deletion that takes at most `size` rows a statement: done once one takes fewer. */
export const upTo = (size: number, deleted: number): Chunk => ({ deleted, done: deleted < size });

/**
 * Runs `deleteChunk`, one statement deleting a bounded number of rows, until one says none is
 * left or the budget is spent (`more`: the next run goes on). Each statement stays a short
 * transaction, and a large backlog cannot hold the cron for long. A statement that fails, or is
 * not answered in CHUNK_TIMEOUT_MS, ends the run with its error.
 */
export async function deleteInChunks(
  deleteChunk: () => Promise<Chunk>,
  now: () => number = Date.now,
  /** When the budget started: a run that deletes several things in turn shares one. */
  started: number = now(),
): Promise<Result<Omit<DeletionReport, "retention_days">, DbError>> {
  let deleted = 0;
  for (;;) {
    const n = await attempt(deleteChunk, CHUNK_TIMEOUT_MS);
    if (!n.ok) return n;
    deleted += n.value.deleted;
    if (n.value.done) return ok({ deleted, more: false });
    if (now() - started >= DELETION_BUDGET_MS) return ok({ deleted, more: true });
  }
}
