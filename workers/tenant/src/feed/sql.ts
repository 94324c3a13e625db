/**
 * The feed's statement, as text and parameters: the worker runs it, and the benchmark runs the
 * very same statement from Node.
 */

export type FeedType = "posts" | "events";

/** Where the previous page ended: (created_at, id) for posts, (start_date, id) for events. */
export interface Position {
  at: string;
  id: string;
}

/**
 * One statement, one round trip: the user's communities and one keyset page over them, by the
 * feed functions (db/migrations/0004, as redefined by 0007), whose plans are cached per backend.
 * It asks for one row past a page of `limit`, which tells whether another page follows.
 */
export function feedQuery(
  type: FeedType,
  userId: string,
  requested: string[] | null,
  after: Position | null,
  limit: number,
): { text: string; params: unknown[] } {
  return {
    text: `SELECT * FROM private.feed_${type}($1, $2, $3, $4, $5)`,
    params: [userId, requested, after?.at ?? null, after?.id ?? null, limit + 1],
  };
}
