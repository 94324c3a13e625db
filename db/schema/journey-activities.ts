import { sql } from "drizzle-orm";
import { check, index, jsonb, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { emptyObject, newId, timestamps, tstz } from "./columns";
import { tenants } from "./tenants";
import { userJourneys } from "./user-journeys";

/**
 * Range-partitioned by month on start_datetime. Drizzle cannot declare partitioning, so
 * migration 0001 creates this table by hand; this definition gives queries their types and
 * keeps drizzle-kit's snapshot in step. The primary key includes the partition column
 * because Postgres requires it of every unique constraint on a partitioned table.
 */
export const journeyActivities = pgTable(
  "journey_activities",
  {
    id: newId(),
    journeyId: uuid("journey_id")
      .notNull()
      .references(() => userJourneys.id, { onDelete: "cascade" }),
    tenantId: uuid("tenant_id").references(() => tenants.id, { onDelete: "set null" }),
    activityType: text("activity_type").notNull(),
    title: text("title").notNull(),
    description: text("description"),
    location: jsonb("location"),
    startDatetime: tstz("start_datetime").notNull(),
    endDatetime: tstz("end_datetime"),
    externalUrl: text("external_url"),
    contentReferenceId: uuid("content_reference_id"),
    contentReferenceType: text("content_reference_type"),
    settings: jsonb("settings").$type<Record<string, unknown>>().notNull().default(emptyObject),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ name: "journey_activities_pkey", columns: [t.id, t.startDatetime] }),
    index("idx_journey_activities_datetime").on(t.startDatetime),
    index("idx_journey_activities_date_range").on(t.journeyId, t.startDatetime, t.endDatetime),
    index("idx_journey_activities_tenant").on(t.tenantId),
    check("journey_activities_end_after_start", sql`end_datetime IS NULL OR end_datetime >= start_datetime`),
  ],
);
