/**
 * Helpers over a test's own database connection, for the Node tests (a pg client) and the worker
 * tests (WorkerTestDb) alike: each passes the one way it has to run a statement and read its rows.
 */
export type Rows = <R extends Record<string, unknown>>(text: string, params?: unknown[]) => Promise<R[]>;

/**
 * Creates, unless it is there, `parent`'s partition for the month `back` months before this one
 * (UTC), named as private.ensure_monthly_partitions names them; returns its name and start.
 */
export async function createPastMonthPartition(
  rows: Rows,
  parent: string,
  back: number,
): Promise<{ name: string; start: string }> {
  const [month] = await rows<{ name: string; start: string; end: string }>(
    `SELECT $1 || '_p' || to_char(m, 'YYYYMM') AS name, (m AT TIME ZONE 'UTC')::text AS start,
            ((m + interval '1 month') AT TIME ZONE 'UTC')::text AS end
       FROM (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $2) AS m) x`,
    [parent, back],
  );
  if (!month) throw new Error("no month");
  await rows(
    `CREATE TABLE IF NOT EXISTS ${month.name} PARTITION OF ${parent} FOR VALUES FROM ('${month.start}') TO ('${month.end}')`,
  );
  return { name: month.name, start: month.start };
}

/**
 * The lock a backend's statement waits for (any of this database's backends when no pid is
 * given), once one waits; undefined if none does within 2 s. Tests of concurrent writes use it
 * to act only once the second writer is really blocked, rather than after a guessed sleep.
 */
export async function lockWaitOf(rows: Rows, pid?: number): Promise<string | undefined> {
  for (let i = 0; i < 40; i++) {
    const [waiting] = await rows<{ wait: string }>(
      `SELECT wait_event AS wait FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND datname = current_database() AND ($1::int IS NULL OR pid = $1)`,
      [pid ?? null],
    );
    if (waiting) return waiting.wait;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}
