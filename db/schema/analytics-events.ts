import { index, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { emptyObject, newId, tstz } from "./columns";

/**
 * Range-partitioned by month on created_at (created by hand in migration 0001, like
 * journey_activities). No foreign keys: analytics is append-only, high volume and outlives
 * the rows it describes. `created_at` comes from the job, so a redelivered job lands in the
 * same partition and the (job_id, created_at) key catches it.
 */
export const analyticsEvents = pgTable(
  "analytics_events",
  {
    id: newId(),
    eventType: text("event_type").notNull(),
    userId: uuid("user_id"),
    tenantId: uuid("tenant_id"),
    properties: jsonb("properties").$type<Record<string, unknown>>().notNull().default(emptyObject),
    createdAt: tstz("created_at").notNull().defaultNow(),
    jobId: uuid("job_id").notNull(),
  },
  (t) => [
    primaryKey({ name: "analytics_events_pkey", columns: [t.id, t.createdAt] }),
    uniqueIndex("analytics_events_job_key").on(t.jobId, t.createdAt),
    index("idx_analytics_events_tenant_time").on(t.tenantId, t.createdAt),
  ],
);
