import { sql } from "drizzle-orm";
import { attempt, type Database, type DbError } from "../../../common/db";
import type { Result } from "../../../common/result";

/** Partitioned tables and how many months ahead each keeps ready. */
export const PARTITIONED_TABLES = [
  { table: "public.journey_activities", monthsAhead: 12 },
  { table: "public.analytics_events", monthsAhead: 12 },
] as const;

export type PartitionReport = { table: string; created: string[]; default_rows: number };

/** Creates missing monthly partitions and reports rows that fell into DEFAULT partitions. */
export function maintainPartitions(db: Database): Promise<Result<PartitionReport[], DbError>> {
  return attempt(async () => {
    const reports: PartitionReport[] = [];
    for (const { table, monthsAhead } of PARTITIONED_TABLES) {
      const created = await db.execute<{ name: string }>(
        sql`SELECT name FROM private.ensure_monthly_partitions(${table}::regclass, ${monthsAhead}) AS name`,
      );
      const counted = await db.execute<{ n: string }>(
        sql`SELECT private.default_partition_rows(${table}::regclass) AS n`,
      );
      reports.push({
        table,
        created: created.rows.map((r) => r.name),
        default_rows: Number(counted.rows[0]?.n ?? 0),
      });
    }
    return reports;
  }, 60_000);
}
