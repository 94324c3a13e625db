import { sql } from "drizzle-orm";
import { boolean, check, date, index, jsonb, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { id, timestamps } from "./columns";
import { tenants } from "./tenants";
import { users } from "./users";

export const JOURNEY_STATUSES = ["planning", "active", "completed", "cancelled"] as const;
export type JourneyStatus = (typeof JOURNEY_STATUSES)[number];

export const userJourneys = pgTable(
  "user_journeys",
  {
    id: id(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    tenantId: uuid("tenant_id").references(() => tenants.id, { onDelete: "set null" }),
    title: text("title").notNull(),
    description: text("description"),
    status: text("status").$type<JourneyStatus>().notNull().default("planning"),
    locations: jsonb("locations").$type<unknown[]>().notNull().default(sql`'[]'::jsonb`),
    startDate: date("start_date", { mode: "string" }),
    endDate: date("end_date", { mode: "string" }),
    isPublic: boolean("is_public").notNull().default(false),
    ...timestamps(),
  },
  (t) => [
    // A user's journeys in id order: their export's pages, and their erasure.
    index("idx_user_journeys_by_user").on(t.userId, t.id),
    // Made (0029) for GET /v1/journeys, which pages on (created_at, id) as an id from an
    // Idempotency-Key is a hash, not a time; but DESC here is NULLS LAST and ORDER BY ... DESC
    // means NULLS FIRST, so no plan ever read it in order. The list walks
    // idx_user_journeys_public and the caller's own instead; this one serves a community's
    // deletion, whose cascade finds the community's journeys by tenant_id.
    index("idx_user_journeys_newest").on(t.tenantId, t.createdAt.desc(), t.id.desc()),
    index("idx_user_journeys_status").on(t.status),
    index("idx_user_journeys_locations").using("gin", t.locations),
    index("idx_user_journeys_date_range").on(t.startDate, t.endDate),
    // A community's public journeys newest first: GET /v1/journeys walks it beside the caller's
    // own (by user), rather than every journey of the community, most of them others' and private.
    // The original's name; its index was on is_public alone (db/migrations/0041).
    index("idx_user_journeys_public")
      .on(t.tenantId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst())
      .where(sql`is_public = true`),
    check("user_journeys_status", sql`status IN ('planning', 'active', 'completed', 'cancelled')`),
    check("user_journeys_dates", sql`end_date IS NULL OR start_date IS NULL OR end_date >= start_date`),
  ],
);
