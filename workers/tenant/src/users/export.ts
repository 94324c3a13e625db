import { attempt, type DbError, type Queryable } from "../../../common/db";
import { describeError, log } from "../../../common/log";
import { err, ok, type Result } from "../../../common/result";

/**
 * Everything the platform holds about one user, for their access request: the user row, their
 * feed selection, and every row that names them, section by section, each row as the table
 * holds it (to_jsonb of the row, so a column added later is exported without a change here).
 *
 * Analytics events are left out, and the export says so: they keep no index on user_id (one
 * would cost every analytics insert, which the consumer's speed target is tight on), so reading
 * a user's would scan every month of them; the erasure leaves them too (README, erasure).
 */

/**
 * One section: the rows of `from` whose `user` column is the user's, each as `doc` (a JSON
 * expression), paged in `key` order. Every section has an index that begins with `user` and
 * goes on with `key` (db/migrations/0040), so a page is a seek and `size` entries of it, however
 * many rows the user has; what a row adds from another table is a subquery by primary key, run
 * for that page's rows alone. Paged on anything else, each page would read and sort all the
 * user's rows, and an export would cost the square of its size.
 *
 * `size` rows a page: at the largest rows validation lets in (20,000 characters of text, escaped
 * in JSON up to six bytes each; a comment's 4,000; 8 KiB of data; a journey's 100 places of
 * 4 KiB), a page stays within about 8 MB, for the worker's memory and the database's HTTP
 * answer. Activities are a section of their own, not nested in their journey: a journey with
 * 500 long ones would be 60 MB.
 */
interface Section {
  name: string;
  doc: string;
  from: string;
  user: string;
  /** One column, or two where the first repeats (a journey's activities); never null. */
  key: [string] | [string, string];
  size: number;
}

export const EXPORT_SECTIONS: readonly Section[] = [
  {
    name: "memberships",
    doc: `to_jsonb(tu) || (SELECT jsonb_build_object('tenant_slug', t.slug, 'tenant_name', t.name)
                           FROM public.tenants t WHERE t.id = tu.tenant_id)`,
    from: "public.tenant_users tu",
    user: "tu.user_id",
    key: ["tu.tenant_id"],
    size: 500,
  },
  { name: "posts", doc: "to_jsonb(x)", from: "public.posts x", user: "x.user_id", key: ["x.id"], size: 50 },
  {
    name: "events",
    doc: "to_jsonb(x)",
    from: "public.events x",
    user: "x.created_by",
    key: ["x.id"],
    size: 50,
  },
  {
    name: "event_answers",
    doc: `to_jsonb(a) || (SELECT jsonb_build_object('event_title', e.title, 'tenant_id', e.tenant_id)
                          FROM public.events e WHERE e.id = a.event_id)`,
    from: "public.event_attendees a",
    user: "a.user_id",
    key: ["a.event_id"],
    size: 500,
  },
  {
    name: "post_likes",
    doc: `to_jsonb(l) || (SELECT jsonb_build_object('tenant_id', p.tenant_id) FROM public.posts p WHERE p.id = l.post_id)`,
    from: "public.post_likes l",
    user: "l.user_id",
    key: ["l.post_id"],
    size: 500,
  },
  {
    name: "post_comments",
    doc: `to_jsonb(c) || (SELECT jsonb_build_object('tenant_id', p.tenant_id) FROM public.posts p WHERE p.id = c.post_id)`,
    from: "public.post_comments c",
    user: "c.user_id",
    key: ["c.id"],
    size: 200,
  },
  {
    name: "journeys",
    doc: "to_jsonb(x)",
    from: "public.user_journeys x",
    user: "x.user_id",
    key: ["x.id"],
    size: 15,
  },
  {
    // Journey by journey along the journeys' index, each one's (at most MAX_ACTIVITIES) by the
    // activities' index on journey_id, sorted by id within the journey.
    name: "journey_activities",
    doc: "to_jsonb(a)",
    from: "public.user_journeys j JOIN public.journey_activities a ON a.journey_id = j.id",
    user: "j.user_id",
    key: ["j.id", "a.id"],
    size: 50,
  },
  {
    // Along the inbox index (user_id, created_at DESC, id DESC), oldest first.
    name: "notifications",
    doc: "to_jsonb(x)",
    from: "public.notifications x",
    user: "x.user_id",
    key: ["x.created_at", "x.id"],
    size: 200,
  },
  {
    name: "shared_content",
    doc: "to_jsonb(x)",
    from: "public.content_sharing x",
    user: "x.shared_by",
    key: ["x.id"],
    size: 500,
  },
  {
    name: "dead_jobs",
    doc: "to_jsonb(x)",
    from: "public.dead_jobs x",
    user: "x.user_id",
    key: ["x.id"],
    size: 50,
  },
];

/**
 * Who asked: an operator answering an access request, or the member for themselves. A member's
 * export leaves out dead jobs, which are the operators' records of jobs that failed: their
 * `error` can hold what the database said, which members are never shown.
 */
export type Audience = "operator" | "member";

/** What the export leaves out, and why: said in the export itself. */
function notIncluded(audience: Audience): Record<string, string> {
  const analytics =
    audience === "operator"
      ? "usage events are kept by user id without an index on it, so they are not read here; an operator reads a user's with SELECT * FROM analytics_events WHERE user_id = '<id>' (a scan of every month kept)"
      : "usage events are kept by user id without an index on it, so they are not read here; the platform's operators can read them for you";
  return audience === "operator"
    ? { analytics_events: analytics }
    : {
        analytics_events: analytics,
        dead_jobs:
          "records of your jobs that failed, kept for the platform's operators; they can read them for you",
      };
}

/**
 * A section's first page (`$1` the user, `$2` the page's size), and each page after (`$2` and
 * on the last key sent, then the size). A two-column key also bounds its first column alone:
 * where the key spans two tables (a journey's activities) that is all the first one's index
 * can seek on, and the row comparison then drops the rows at that value up to the last key.
 * Keys travel as text both ways: each parameter takes the type of the column it is compared
 * with, and a timestamp's text keeps its microseconds.
 */
export function pageQueries(section: Section): { first: string; next: string } {
  const { doc, from, user, key } = section;
  const head = `SELECT (${doc})::text AS doc, ${key.map((k, i) => `${k}::text AS k${i}`).join(", ")}
      FROM ${from} WHERE ${user} = $1`;
  const order = `ORDER BY ${key.join(", ")}`;
  const after =
    key.length === 1
      ? `${key[0]} > $2`
      : `${key[0]} >= $2 AND (${key.join(", ")}) > (${key.map((_, i) => `$${i + 2}`).join(", ")})`;
  return {
    first: `${head} ${order} LIMIT $2`,
    next: `${head} AND ${after} ${order} LIMIT $${key.length + 2}`,
  };
}

/** The export's opening: the user and their feed selection, or undefined for no such user. */
export async function exportHead(
  sql: Queryable,
  userId: string,
): Promise<Result<{ user: string; feedSelection: string } | undefined, DbError>> {
  const found = await attempt(() =>
    sql.query<{ user: string; feed_selection: string }>(
      `SELECT to_jsonb(u)::text AS user,
              coalesce((SELECT to_jsonb(v) FROM public.user_view_preferences v WHERE v.user_id = u.id), 'null')::text
                AS feed_selection
         FROM public.users u WHERE u.id = $1`,
      [userId],
    ),
  );
  if (!found.ok) return found;
  const [row] = found.value.rows;
  return ok(row ? { user: row.user, feedSelection: row.feed_selection } : undefined);
}

/**
 * Writes the export as one JSON object, section by section, a page at a time, so a user with a
 * million rows costs a page of memory. Each page is a statement of its own: rows written while
 * it runs may or may not be in it. `"complete": true` comes last; a database failure part way
 * aborts the stream, so the client never takes a cut-off export for a whole one.
 */
export async function writeExport(
  sql: Queryable,
  userId: string,
  head: { user: string; feedSelection: string },
  out: WritableStream<Uint8Array>,
  context: { request_id: string; audience: Audience },
): Promise<void> {
  const sections = EXPORT_SECTIONS.filter((s) => context.audience === "operator" || s.name !== "dead_jobs");
  const writer = out.getWriter();
  const encoder = new TextEncoder();
  const write = (text: string) => writer.write(encoder.encode(text));
  const stop = async (level: "warn" | "error", why: Record<string, unknown>) => {
    log(level, "user export stopped part way; its stream is aborted", {
      ...context,
      user_id: userId,
      ...why,
    });
    await writer.abort(new Error("user export stopped part way")).catch(() => undefined);
  };
  try {
    await write(
      `{"exported_at":${JSON.stringify(new Date().toISOString())},"user":${head.user},"feed_selection":${head.feedSelection}`,
    );
    for (const section of sections) {
      await write(`,${JSON.stringify(section.name)}:[`);
      const written = await writeSection(sql, section, userId, write);
      if (!written.ok) return await stop("error", { section: section.name, ...written.error });
      await write("]");
    }
    await write(`,"not_included":${JSON.stringify(notIncluded(context.audience))},"complete":true}`);
    await writer.close();
  } catch (e) {
    // A write refused: the client went away.
    await stop("warn", describeError(e));
  }
}

async function writeSection(
  sql: Queryable,
  section: Section,
  userId: string,
  write: (text: string) => Promise<void>,
): Promise<Result<number, DbError>> {
  const { first, next } = pageQueries(section);
  let after: string[] | null = null;
  let count = 0;
  for (;;) {
    const params: unknown[] = after ? [userId, ...after, section.size] : [userId, section.size];
    const page = await attempt(() =>
      sql.query<{ doc: string; k0: string; k1?: string }>(after ? next : first, params),
    );
    if (!page.ok) return err(page.error);
    const { rows } = page.value;
    if (rows.length > 0) await write((count > 0 ? "," : "") + rows.map((r) => r.doc).join(","));
    count += rows.length;
    const last = rows.at(-1);
    if (!last || rows.length < section.size) return ok(count);
    after = last.k1 === undefined ? [last.k0] : [last.k0, last.k1];
  }
}
