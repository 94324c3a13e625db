import { attempt, type DbError, type Queryable } from "../../../common/db";
import { describeError, log } from "../../../common/log";
import { ok, type Result } from "../../../common/result";

/**
 * Exports (a user's, users/export.ts; a community's, tenancy/export.ts) are one JSON object
 * written section by section, a page at a time, each page a seek along an index that starts
 * with the export's subject (`$1`): its cost is a page's, however many rows came before.
 * Paged on anything else, each page would read and sort all the subject's rows, and an export
 * would cost the square of its size.
 *
 * Keys travel as text both ways: each parameter takes the type of the column it is compared
 * with, and a timestamp's text keeps its microseconds. No key column is ever null.
 */

/** The rows of `from` whose `owner` is the subject, each as `doc` (a JSON expression). */
export interface TableSection {
  name: string;
  doc: string;
  from: string;
  owner: string;
  /** What else a row must be (a live one, a public one). */
  where?: string;
  /** The order of the walk: the columns of the owner's index after the owner. */
  key: readonly [string, ...string[]];
  /** Walked newest first, as an index kept `DESC` is read forwards. */
  descending?: boolean;
  /** Rows a page at most; PAGE_BYTES bounds its text. */
  size: number;
}

/**
 * The rows of a child table under each row of a parent section (the comments on a community's
 * posts), for children with no column of the subject's to seek on. A page walks the parents
 * along their index and each one's children along theirs (`of`, then `key`), at most a page of
 * each; when a page ends inside a parent's children, the next ones seek to that parent's next
 * child, so a post with a hundred thousand comments costs its pages, not a re-read from its
 * first comment each time.
 */
export interface ChildSection {
  name: string;
  /** The child row's JSON, from the child table's columns alone. */
  doc: string;
  parent: Omit<TableSection, "name" | "doc" | "size"> & { id: string };
  from: string;
  /** The child's column that names its parent's `id`. */
  of: string;
  where?: string;
  key: readonly [string, ...string[]];
  size: number;
}

export type Section = TableSection | ChildSection;

const isChild = (s: Section): s is ChildSection => "parent" in s;

/** `$from`, `$from + 1`, … for each column. */
const params = (columns: readonly string[], from: number) => columns.map((_, i) => `$${i + from}`);

/**
 * Rows after a key, along its columns' order: a one-column key is a plain comparison; a longer
 * one also bounds its first column alone, which is what an index whose later columns come from
 * another table (an activity's journey) can seek on, the row comparison dropping the rows at that
 * value up to the last key.
 */
function after(key: readonly string[], from: number, descending = false): string {
  const [gt, ge] = descending ? ["<", "<="] : [">", ">="];
  const at = params(key, from);
  return key.length === 1
    ? `${key[0]} ${gt} ${at[0]}`
    : `${key[0]} ${ge} ${at[0]} AND (${key.join(", ")}) ${gt} (${at.join(", ")})`;
}

const orderBy = (key: readonly string[], descending = false) =>
  key.map((k) => (descending ? `${k} DESC` : k)).join(", ");

const filter = (where: string | undefined) => (where ? ` AND ${where}` : "");

const asText = (key: readonly string[], prefix: string) =>
  key.map((k, i) => `${k}::text AS ${prefix}${i}`).join(", ");

/**
 * Text a page holds at most, past its first row: 4 MB of JSON, which the SQL-over-HTTP answer
 * escapes again into at most 8 MB (each backslash and quote doubled), within Neon's 10 MB. A
 * page stops at its row cap (`size`) or its first row past these bytes, whichever comes first,
 * so small rows come a thousand to a statement and large ones a few. Each statement is a round
 * trip and a subrequest of the request (Workers Paid allows 10,000): a community of 200,000
 * posts with their comments took 1,375, where pages of 50 to 500 rows took 9,307.
 */
export const PAGE_BYTES = 4 * 1024 * 1024;

/**
 * `inner` (ordered by `order`, with `running`: the bytes of its docs so far) cut at PAGE_BYTES:
 * the rows that begin within them. `by` orders the cut rows as `inner` ordered them, by its raw
 * key columns.
 */
const budgeted = (inner: string, by: string) =>
  `SELECT * FROM (${inner}) page WHERE page.running - coalesce(octet_length(page.doc), 0) < ${PAGE_BYTES} ORDER BY ${by}`;

const running = (doc: string, order: string) =>
  `sum(coalesce(octet_length(${doc}), 0)) OVER (ORDER BY ${order} ROWS UNBOUNDED PRECEDING) AS running`;

const raw = (key: readonly string[], prefix: string) => key.map((k, i) => `${k} AS ${prefix}${i}`).join(", ");

const rawOrder = (key: readonly string[], prefix: string, descending = false) =>
  orderBy(
    key.map((_, i) => `page.${prefix}${i}`),
    descending,
  );

/**
 * A table section's first page (`$1` the subject, `$2` the row cap), and each page after (`$2`
 * and on the last key sent, then the row cap). Rows come back as `doc`, `k0…` and `running`.
 */
export function tableQueries(s: TableSection): { first: string; next: string } {
  const order = orderBy(s.key, s.descending);
  const page = (bound: string, cap: string) =>
    budgeted(
      `SELECT d.doc, ${asText(s.key, "k")}, ${raw(s.key, "r")}, ${running("d.doc", order)}
        FROM ${s.from} CROSS JOIN LATERAL (SELECT (${s.doc})::text AS doc) d
        WHERE ${s.owner} = $1${filter(s.where)}${bound}
        ORDER BY ${order} LIMIT ${cap}`,
      rawOrder(s.key, "r", s.descending),
    );
  return {
    first: page("", "$2"),
    next: page(` AND ${after(s.key, 2, s.descending)}`, `$${s.key.length + 2}`),
  };
}

/**
 * A child section's statements. `first` and `next`: parents from the first (`$1` the subject,
 * `$2` the size) or after one (`$2` and on its key, then the size), each with up to a page of its
 * children, or one row with a null `doc` for a parent with none; rows come back as `doc`, the
 * parent's key `p0…` and id `pid`, the child's key `c0…`. So a page walks at most a page of
 * parents, and its last row names the last one walked, in the same snapshot: a community whose
 * posts mostly have no comments is not probed to its end in one statement (200,000 posts took
 * 400 ms), and a parent added or deleted between two statements moves no boundary. `within`:
 * one parent's children after one (`$1` the parent's id, `$2` and on the child's key, then the
 * size), as `doc` and `c0…`.
 */
export function childQueries(s: ChildSection): { first: string; next: string; within: string } {
  const { parent } = s;
  const childOrder = orderBy(s.key);
  const children = (
    size: string,
  ) => `SELECT (${s.doc})::text AS doc, ${asText(s.key, "c")}, ${raw(s.key, "r")}
        FROM ${s.from} WHERE ${s.of} = ${parent.id}${filter(s.where)}
        ORDER BY ${childOrder} LIMIT ${size}`;
  const order = `${orderBy(parent.key, parent.descending)}, ${s.key.map((_, i) => `kid.r${i}`).join(", ")}`;
  const across = (bound: string, cap: string) =>
    budgeted(
      `SELECT kid.doc, ${asText(parent.key, "p")}, ${parent.id}::text AS pid, ${s.key
        .map((_, i) => `kid.c${i}`)
        .join(
          ", ",
        )}, ${raw(parent.key, "q")}, ${s.key.map((_, i) => `kid.r${i}`).join(", ")}, ${running("kid.doc", order)}
      FROM ${parent.from} LEFT JOIN LATERAL (${children(cap)}) kid ON true
      WHERE ${parent.owner} = $1${filter(parent.where)}${bound}
      ORDER BY ${order}
      LIMIT ${cap}`,
      `${rawOrder(parent.key, "q", parent.descending)}, ${rawOrder(s.key, "r")}`,
    );
  const cap = `$${s.key.length + 2}`;
  return {
    first: across("", "$2"),
    next: across(` AND ${after(parent.key, 2, parent.descending)}`, `$${parent.key.length + 2}`),
    within: budgeted(
      `SELECT d.doc, ${asText(s.key, "c")}, ${raw(s.key, "r")}, ${running("d.doc", childOrder)}
      FROM ${s.from} CROSS JOIN LATERAL (SELECT (${s.doc})::text AS doc) d
      WHERE ${s.of} = $1${filter(s.where)} AND ${after(s.key, 2)}
      ORDER BY ${childOrder} LIMIT ${cap}`,
      rawOrder(s.key, "r"),
    ),
  };
}

type Write = (text: string) => Promise<void>;
type Row = Record<string, unknown>;

const keyOf = (row: Row, prefix: string, length: number) =>
  Array.from({ length }, (_, i) => String(row[`${prefix}${i}`]));

async function page(sql: Queryable, text: string, values: unknown[]): Promise<Result<Row[], DbError>> {
  const result = await attempt(() => sql.query<Row>(text, values));
  return result.ok ? ok(result.value.rows) : result;
}

/** Whether a page stopped at its row cap or its bytes, rather than at the end of its rows. */
const full = (rows: Row[], cap: number) => rows.length >= cap || Number(rows.at(-1)?.running) >= PAGE_BYTES;

/** Writes the rows' docs (a parent's row without children has none), comma-separated from any written before; answers how many. */
async function writeDocs(rows: Row[], count: number, write: Write): Promise<number> {
  const docs = rows.flatMap((r) => (r.doc === null ? [] : [r.doc]));
  if (docs.length > 0) await write((count > 0 ? "," : "") + docs.join(","));
  return count + docs.length;
}

async function writeTable(
  sql: Queryable,
  s: TableSection,
  subject: string,
  write: Write,
): Promise<Result<number, DbError>> {
  const { first, next } = tableQueries(s);
  let last: string[] | null = null;
  let count = 0;
  for (;;) {
    const rows = await page(sql, last ? next : first, last ? [subject, ...last, s.size] : [subject, s.size]);
    if (!rows.ok) return rows;
    count = await writeDocs(rows.value, count, write);
    const end = rows.value.at(-1);
    if (!end || !full(rows.value, s.size)) return ok(count);
    last = keyOf(end, "k", s.key.length);
  }
}

async function writeChildren(
  sql: Queryable,
  s: ChildSection,
  subject: string,
  write: Write,
): Promise<Result<number, DbError>> {
  const { first, next, within } = childQueries(s);
  let parent: string[] | null = null;
  let count = 0;
  for (;;) {
    const rows = await page(
      sql,
      parent ? next : first,
      parent ? [subject, ...parent, s.size] : [subject, s.size],
    );
    if (!rows.ok) return rows;
    count = await writeDocs(rows.value, count, write);
    const end = rows.value.at(-1);
    // Short: every parent left was walked, each with all its children (a page of them fills it).
    if (!end || !full(rows.value, s.size)) return ok(count);
    parent = keyOf(end, "p", s.parent.key.length);
    if (end.doc === null) continue;
    // The page may have ended inside the last parent's children: the rest of them first.
    let child = keyOf(end, "c", s.key.length);
    for (;;) {
      const more = await page(sql, within, [end.pid, ...child, s.size]);
      if (!more.ok) return more;
      count = await writeDocs(more.value, count, write);
      const last = more.value.at(-1);
      if (!last || !full(more.value, s.size)) break;
      child = keyOf(last, "c", s.key.length);
    }
  }
}

/** What an export is: its opening fields (the subject's row and the like), sections and closing fields. */
export interface ExportPlan {
  /** "user" or "community", for the log line. */
  what: string;
  subject: string;
  /** The object's first fields, as JSON text without the braces. */
  opening: string;
  sections: readonly Section[];
  /** Its last fields before `"complete": true`, as JSON text without the braces. */
  closing: string;
  /**
   * A statement (`$1` the subject) answering `whole`: whether the subject is still there as it
   * was when the export began, run after the last page. An erasure that began meanwhile took
   * rows the later pages would have had; the export is then cut off, never "complete".
   */
  stillWhole: string;
}

/**
 * Writes the export, so a subject with a million rows costs a page of memory. Each page is a
 * statement of its own, run on `sql` as given: openKeysetSql, so that none is planned as a
 * bitmap scan that reads all the rows after its key. Rows written while it runs may or may not
 * be in it. `"complete": true` comes last; a database failure part way aborts the stream, so
 * the client never takes a cut-off export for a whole one.
 */
export async function writeExport(
  sql: Queryable,
  plan: ExportPlan,
  out: WritableStream<Uint8Array>,
  context: Record<string, unknown>,
): Promise<void> {
  const writer = out.getWriter();
  const encoder = new TextEncoder();
  const write = (text: string) => writer.write(encoder.encode(text));
  const stop = async (level: "warn" | "error", why: Record<string, unknown>) => {
    log(level, `${plan.what} export stopped part way; its stream is aborted`, { ...context, ...why });
    await writer.abort(new Error(`${plan.what} export stopped part way`)).catch(() => undefined);
  };
  try {
    await write(`{${plan.opening}`);
    for (const section of plan.sections) {
      await write(`,${JSON.stringify(section.name)}:[`);
      const written = isChild(section)
        ? await writeChildren(sql, section, plan.subject, write)
        : await writeTable(sql, section, plan.subject, write);
      if (!written.ok) return await stop("error", { section: section.name, ...written.error });
      await write("]");
    }
    const whole = await page(sql, plan.stillWhole, [plan.subject]);
    if (!whole.ok) return await stop("error", { section: "complete", ...whole.error });
    if (whole.value[0]?.whole !== true) {
      return await stop("warn", { reason: `the ${plan.what} began to be erased during the export` });
    }
    await write(`,${plan.closing},"complete":true}`);
    await writer.close();
  } catch (e) {
    // A write refused: the client went away.
    await stop("warn", describeError(e));
  }
}
