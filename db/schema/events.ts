import { sql } from "drizzle-orm";
import { check, index, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { deletedAt, id, timestamps, tstz } from "./columns";
import { tenants } from "./tenants";
import { users } from "./users";

export const events = pgTable(
  "events",
  {
    id: id(),
    tenantId: uuid("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    // The author: content updates are allowed to the author or a tenant admin.
    createdBy: uuid("created_by").references(() => users.id, { onDelete: "set null" }),
    title: text("title").notNull(),
    description: text("description"),
    startDate: tstz("start_date").notNull(),
    endDate: tstz("end_date"),
    locationName: text("location_name"),
    imageUrl: text("image_url"),
    ...timestamps(),
    deletedAt: deletedAt(),
  },
  (t) => [
    // Upcoming events of one tenant, soonest first, keyset on (start_date, id).
    index("idx_events_tenant_upcoming").on(t.tenantId, t.startDate, t.id).where(sql`deleted_at IS NULL`),
    index("idx_events_upcoming_global").on(t.startDate, t.id).where(sql`deleted_at IS NULL`),
    // Deleting a user sets created_by to null: without an index each deletion scans every event.
    // In id order: the pages of their export.
    index("idx_events_by_creator").on(t.createdBy, t.id),
    check("events_end_after_start", sql`end_date IS NULL OR end_date >= start_date`),
  ],
);

export type Event = typeof events.$inferSelect;
