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
 * At most this much text a page (a post's content; an event's title, description, place and
 * image link). A post's content or an event's description has no bound in the schema (the
 * product writes them), and a page of 100 long ones passed what Neon's SQL-over-HTTP answers
 * (10 MiB, then 507 "response is too large": that feed was stuck at that page), and more than
 * an isolate should hold twice, parsed and written out again. A page always has its first row,
 * however long. Counted by the feed functions themselves (db/migrations/0024).
 */
const FEED_PAGE_BYTES = 2 * 1024 * 1024;

/** Each feed's function: posts with whether the user likes each (db/migrations/0037). */
const FEED_FUNCTIONS: Record<FeedType, string> = { posts: "feed_posts_v2", events: "feed_events" };

/**
 * One statement, one round trip: the user's communities and one keyset page over them, by the
 * feed functions (db/migrations/0004, as redefined by 0024 and 0037), whose plans are cached
 * per backend. It asks for one row past a page of `limit`, which tells whether another page
 * follows; a page its text cut short (FEED_PAGE_BYTES) ends in a row of NULLs instead.
 */
export function feedQuery(
  type: FeedType,
  userId: string,
  requested: string[] | null,
  after: Position | null,
  limit: number,
): { text: string; params: unknown[] } {
  return {
    text: `SELECT * FROM private.${FEED_FUNCTIONS[type]}($1, $2, $3, $4, $5, $6)`,
    params: [userId, requested, after?.at ?? null, after?.id ?? null, limit + 1, FEED_PAGE_BYTES],
  };
}
