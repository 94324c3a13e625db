import { sql } from "drizzle-orm";
import { attempt, type Database, type DbError } from "../../../common/db";
import { ok, type Result } from "../../../common/result";
import { retention } from "../../../common/vars";

/**
 * Partitioned tables, how many months ahead each keeps ready, and whether rows in its DEFAULT
 * partition are ordinary. Journey activities are of any date members give them (a trip logged
 * from years back, one planned years ahead: POST /v1/journeys/{id}/activities), so their DEFAULT
 * partition holds those for good, indexed like every month; analytics events are stamped when
 * enqueued, so theirs holds rows only when the months are behind or a replay is old.
 */
export const PARTITIONED_TABLES = [
  { table: "public.journey_activities", monthsAhead: 12, defaultRowsExpected: true },
  { table: "public.analytics_events", monthsAhead: 12, defaultRowsExpected: false },
] as const;

export type PartitionedTable = (typeof PARTITIONED_TABLES)[number]["table"];

export type PartitionReport = {
  table: string;
  created: string[];
  /** Months past the table's retention, dropped whole. */
  dropped: string[];
  /** Rows past the retention deleted from the DEFAULT partition (its months were dropped before). */
  default_deleted: number;
  default_rows: number;
  /** Whether DEFAULT rows are ordinary for this table (PARTITIONED_TABLES), not a warning. */
  default_rows_expected: boolean;
};

/**
 * How many full months of analytics events to keep before the current one, from
 * ANALYTICS_RETENTION_MONTHS; 0 (the default, or a value that is not a whole number, which a log
 * line says) keeps every month. Journeys are users' own content and have no retention.
 */
export function analyticsRetentionMonths(value: string | undefined): number {
  return retention(value, "ANALYTICS_RETENTION_MONTHS");
}

/** One table's maintenance: its report, or why it failed. */
export type PartitionOutcome = { table: PartitionedTable; result: Result<PartitionReport, DbError> };

/**
 * Creates missing monthly partitions; where a table has a retention, drops whole months past it
 * (db/migrations/0012) and deletes the DEFAULT partition's rows past it (0014: a row whose month
 * was already dropped lands there); reports the rows DEFAULT partitions still hold. Each table on
 * its own: one held by a long query gives up on its lock (0020) without skipping the others.
 */
export async function maintainPartitions(
  db: Database,
  retentionMonths: Partial<Record<PartitionedTable, number>>,
): Promise<PartitionOutcome[]> {
  const outcomes: PartitionOutcome[] = [];
  for (const { table, monthsAhead, defaultRowsExpected } of PARTITIONED_TABLES) {
    const result = await maintainTable(db, table, monthsAhead, retentionMonths[table] ?? 0);
    outcomes.push({
      table,
      result: result.ok ? ok({ ...result.value, default_rows_expected: defaultRowsExpected }) : result,
    });
  }
  return outcomes;
}

function maintainTable(
  db: Database,
  table: PartitionedTable,
  monthsAhead: number,
  keep: number,
): Promise<Result<Omit<PartitionReport, "default_rows_expected">, DbError>> {
  return attempt(async () => {
    const created = await db.execute<{ name: string }>(
      sql`SELECT name FROM private.ensure_monthly_partitions(${table}::regclass, ${monthsAhead}) AS name`,
    );
    const dropped =
      keep > 0
        ? await db.execute<{ name: string }>(
            sql`SELECT name FROM private.drop_monthly_partitions_before(${table}::regclass, ${keep}) AS name`,
          )
        : { rows: [] };
    const deleted =
      keep > 0
        ? await db.execute<{ n: string }>(
            sql`SELECT private.delete_default_rows_before(${table}::regclass, ${keep}) AS n`,
          )
        : { rows: [] };
    const counted = await db.execute<{ n: string }>(
      sql`SELECT private.default_partition_rows(${table}::regclass) AS n`,
    );
    return {
      table,
      created: created.rows.map((r) => r.name),
      dropped: dropped.rows.map((r) => r.name),
      default_deleted: Number(deleted.rows[0]?.n ?? 0),
      default_rows: Number(counted.rows[0]?.n ?? 0),
    };
  }, 60_000);
}
