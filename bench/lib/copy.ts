import type pg from "pg";

/**
 * Builds the indexes `source` has (all, or all but `except`) on `copy`, a table made
 * `LIKE source`, under names of its own. After the rows are in: built in one pass, as
 * a migration on a loaded table would, instead of grown row by row.
 */
export async function copyIndexes(
  client: pg.Client,
  source: string,
  copy: string,
  except: string[] = [],
): Promise<void> {
  const indexes = await client.query<{ def: string }>(
    "SELECT indexdef AS def FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1 AND NOT indexname = ANY($2)",
    [source, except],
  );
  const head = new RegExp(`^CREATE (UNIQUE )?INDEX (\\S+) ON public\\.${source} `);
  for (const { def } of indexes.rows) {
    await client.query(def.replace(head, `CREATE $1INDEX ${copy}_$2 ON public.${copy} `));
  }
}
