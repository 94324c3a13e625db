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
 * One section: `$1` the user; each row's `k`, the uuid it is paged by (unique within the
 * section), and `doc`, the row as JSON. `size` rows a page: at the largest rows validation lets
 * in (20,000 characters of text, escaped in JSON up to six bytes each; a comment's 4,000; 8 KiB
 * of data; a journey's 100 places of 4 KiB), a page stays within about 8 MB, for the worker's
 * memory and the database's HTTP answer. Activities are a section of their own, not nested in their journey: a
 * journey with 500 long ones would be 60 MB.
 */
interface Section {
  name: string;
  rows: string;
  size: number;
}

const SECTIONS: Section[] = [
  {
    name: "memberships",
    rows: `SELECT tu.tenant_id AS k, to_jsonb(tu) || jsonb_build_object('tenant_slug', t.slug, 'tenant_name', t.name) AS doc
             FROM public.tenant_users tu JOIN public.tenants t ON t.id = tu.tenant_id WHERE tu.user_id = $1`,
    size: 500,
  },
  {
    name: "posts",
    rows: "SELECT x.id AS k, to_jsonb(x) AS doc FROM public.posts x WHERE x.user_id = $1",
    size: 50,
  },
  {
    name: "events",
    rows: "SELECT x.id AS k, to_jsonb(x) AS doc FROM public.events x WHERE x.created_by = $1",
    size: 50,
  },
  {
    name: "event_answers",
    rows: `SELECT a.event_id AS k, to_jsonb(a) || jsonb_build_object('event_title', e.title, 'tenant_id', e.tenant_id) AS doc
             FROM public.event_attendees a JOIN public.events e ON e.id = a.event_id WHERE a.user_id = $1`,
    size: 500,
  },
  {
    name: "post_likes",
    rows: `SELECT l.post_id AS k, to_jsonb(l) || jsonb_build_object('tenant_id', p.tenant_id) AS doc
             FROM public.post_likes l JOIN public.posts p ON p.id = l.post_id WHERE l.user_id = $1`,
    size: 500,
  },
  {
    name: "post_comments",
    rows: `SELECT c.id AS k, to_jsonb(c) || jsonb_build_object('tenant_id', p.tenant_id) AS doc
             FROM public.post_comments c JOIN public.posts p ON p.id = c.post_id WHERE c.user_id = $1`,
    size: 200,
  },
  {
    name: "journeys",
    rows: "SELECT x.id AS k, to_jsonb(x) AS doc FROM public.user_journeys x WHERE x.user_id = $1",
    size: 15,
  },
  {
    name: "journey_activities",
    rows: `SELECT a.id AS k, to_jsonb(a) AS doc
             FROM public.journey_activities a JOIN public.user_journeys j ON j.id = a.journey_id WHERE j.user_id = $1`,
    size: 50,
  },
  {
    name: "notifications",
    rows: "SELECT x.id AS k, to_jsonb(x) AS doc FROM public.notifications x WHERE x.user_id = $1",
    size: 200,
  },
  {
    name: "shared_content",
    rows: "SELECT x.id AS k, to_jsonb(x) AS doc FROM public.content_sharing x WHERE x.shared_by = $1",
    size: 500,
  },
  {
    name: "dead_jobs",
    rows: "SELECT x.id AS k, to_jsonb(x) AS doc FROM public.dead_jobs x WHERE x.user_id = $1",
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

/** A section's page after the key `after`, in key order. */
function pageSql(section: Section): string {
  return `SELECT s.k, s.doc::text AS doc FROM (${section.rows}) s
           WHERE ($2::uuid IS NULL OR s.k > $2::uuid) ORDER BY s.k LIMIT $3::int`;
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
  const sections = SECTIONS.filter((s) => context.audience === "operator" || s.name !== "dead_jobs");
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
  const text = pageSql(section);
  let after: string | null = null;
  let count = 0;
  for (;;) {
    const page = await attempt(() =>
      sql.query<{ k: string; doc: string }>(text, [userId, after, section.size]),
    );
    if (!page.ok) return err(page.error);
    const { rows } = page.value;
    if (rows.length > 0) await write((count > 0 ? "," : "") + rows.map((r) => r.doc).join(","));
    count += rows.length;
    if (rows.length < section.size) return ok(count);
    after = rows.at(-1)?.k ?? null;
  }
}
