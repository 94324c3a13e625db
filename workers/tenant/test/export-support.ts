import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { openKeysetSql } from "../../common/db";
import { type PlanNode, planNodes, type WorkerTestDb } from "../../test-support/db";
import {
  childQueries,
  type ExportPlan,
  type Section,
  tableQueries,
  writeExport,
} from "../src/exports/stream";
import worker from "../src/index";

/**
 * An export's requests, as an operator makes them (`headers` over the admin token): `start`
 * answers the response, whose body the test reads, and the context to wait on; `read` reads it
 * whole. `db` is the test file's database, once it has one.
 */
export function exportRequests(
  db: () => WorkerTestDb,
  url: (id: string) => string,
  base: Record<string, string> = {},
) {
  const start = async (
    id: string,
    headers: Record<string, string> = {},
    bindings: Partial<typeof env> = {},
  ) => {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(url(id), { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, ...base, ...headers } }),
      { ...env, DATABASE_URL: db().url, ...bindings },
      ctx,
    );
    return { res, ctx };
  };
  const read = async (
    id: string,
    headers: Record<string, string> = {},
    bindings: Partial<typeof env> = {},
  ) => {
    const { res, ctx } = await start(id, headers, bindings);
    const body = await res.text();
    await waitOnExecutionContext(ctx);
    return { res, body };
  };
  return { start, read };
}

/** Where a walk would begin: before every row, or after every row for a walk newest first. */
function walkStart(column: string, descending = false): string {
  if (/(created_at|start_date|start_datetime)$/.test(column)) {
    return descending ? "9999-12-31T00:00:00Z" : "1970-01-01T00:00:00Z";
  }
  return descending ? "ffffffff-ffff-ffff-ffff-ffffffffffff" : "00000000-0000-0000-0000-000000000000";
}

/**
 * Whether a plan scans `qualified` (alias.column; a partition's scan is alias_N) on an index that
 * starts with that column, or with `pinned` (a column the section's condition fixes) and then it.
 */
function seeks(nodes: PlanNode[], indexes: Map<string, string>, qualified: string, pinned?: string) {
  const [alias, column] = qualified.split(".");
  const lead = new RegExp(`USING btree \\(${pinned ? `(${pinned}, )?` : ""}${column}[,)]`);
  return nodes.some(
    (n) =>
      (n.Alias === alias || String(n.Alias).startsWith(`${alias}_`)) &&
      String(n["Node Type"]).startsWith("Index") &&
      lead.test(indexes.get(String(n["Index Name"])) ?? ""),
  );
}

export interface PagePlan {
  section: string;
  page: string;
  sorts: number;
  seeks: boolean;
}

/**
 * Every statement of each export section, planned (with sequential scans and sorts made dear, as
 * planNodes does) for `nobody`, a subject who holds nothing, from the first page and from one
 * past a key: whether each seeks on the subject's (or the parent's) index and sorts nothing.
 * Analyse first, so the plans are a live database's.
 */
export async function pagePlans(db: WorkerTestDb, sections: readonly Section[], nobody: string) {
  const indexes = new Map(
    (
      await db.query<{ name: string; def: string }>(
        "SELECT indexname AS name, indexdef AS def FROM pg_indexes",
      )
    ).map((r) => [r.name, r.def]),
  );
  const plans: PagePlan[] = [];
  for (const section of sections) {
    const pinned = "parent" in section ? section.where?.match(/^\w+\.(\w+) = '/)?.[1] : undefined;
    const check = async (page: string, text: string, params: unknown[], scans: string[]) => {
      const nodes = await planNodes(db, text, params);
      plans.push({
        section: section.name,
        page,
        sorts: nodes.filter((n) => n["Node Type"] === "Sort").length,
        seeks: scans.every((s) => seeks(nodes, indexes, s, pinned)),
      });
    };
    if ("parent" in section) {
      const { first, next, within } = childQueries(section);
      const { parent } = section;
      const scans = [parent.owner, section.of];
      const bound = parent.key.map((k) => walkStart(k, parent.descending));
      await check("first", first, [nobody, section.size], scans);
      await check("next", next, [nobody, ...bound, section.size], scans);
      await check(
        "within",
        within,
        [nobody, ...section.key.map((k) => walkStart(k)), section.size],
        [section.of],
      );
    } else {
      const { first, next } = tableQueries(section);
      const bound = section.key.map((k) => walkStart(k, section.descending));
      await check("first", first, [nobody, section.size], [section.owner]);
      await check("next", next, [nobody, ...bound, section.size], [section.owner]);
    }
  }
  return plans;
}

/**
 * An export written straight through the pager (no route), its sections' row caps set to
 * `size` when given: with a few rows a page, every page boundary the data has is crossed.
 * Answers the parsed document without its `exported_at`.
 */
export async function exportThroughPager(db: WorkerTestDb, plan: ExportPlan, size?: number) {
  const sections = size === undefined ? plan.sections : plan.sections.map((s) => ({ ...s, size }));
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const written = writeExport(
    openKeysetSql({ ...env, DATABASE_URL: db.url }),
    { ...plan, sections },
    writable,
    {},
  );
  const text = await new Response(readable).text();
  await written;
  const { exported_at: _, ...document } = JSON.parse(text) as Record<string, unknown>;
  return document;
}
