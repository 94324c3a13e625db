import { sql } from "drizzle-orm";
import { check, index, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { timestamps } from "./columns";
import { events } from "./events";
import { users } from "./users";

export const ATTENDANCE_STATUSES = ["going", "interested"] as const;
export type AttendanceStatus = (typeof ATTENDANCE_STATUSES)[number];

/**
 * Members' answers to an event of their community: going, or interested. One row a member and
 * event; withdrawing deletes it. updated_at is when the answer last changed.
 */
export const eventAttendees = pgTable(
  "event_attendees",
  {
    eventId: uuid("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    status: text("status").$type<AttendanceStatus>().notNull(),
    ...timestamps(),
  },
  (t) => [
    // An event's answers in user-id order: the attendee list's keyset.
    primaryKey({ name: "event_attendees_pkey", columns: [t.eventId, t.userId] }),
    // Erasing a user deletes their answers: without an index each erasure scans every answer.
    // In event order: the pages of their export.
    index("idx_event_attendees_by_user").on(t.userId, t.eventId),
    check("event_attendees_status", sql`status IN ('going', 'interested')`),
  ],
);
