import { sql } from "drizzle-orm";
import { check, index, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { createdAt, id } from "./columns";
import { tenants } from "./tenants";
import { users } from "./users";

export const CONTENT_TYPES = ["posts", "events"] as const;
export type ContentType = (typeof CONTENT_TYPES)[number];

/** A post or event of one community shared into another. */
export const contentSharing = pgTable(
  "content_sharing",
  {
    id: id(),
    contentType: text("content_type").$type<ContentType>().notNull(),
    contentId: uuid("content_id").notNull(),
    sourceTenantId: uuid("source_tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    targetTenantId: uuid("target_tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    sharedBy: uuid("shared_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
  },
  (t) => [
    index("idx_content_sharing_composite").on(t.contentType, t.contentId, t.sourceTenantId),
    uniqueIndex("content_sharing_once").on(t.contentType, t.contentId, t.targetTenantId),
    // What is shared into a community, newest first (GET /v1/shared): a keyset walk of one
    // community's shares of one kind. Also what a target community's deletion cascades by.
    index("idx_content_sharing_target").on(
      t.targetTenantId,
      t.contentType,
      t.createdAt.desc().nullsFirst(),
      t.contentId.desc().nullsFirst(),
    ),
    // Deleting a user sets shared_by to null: without an index each deletion scans every share.
    // In id order: the pages of their export.
    index("idx_content_sharing_by_sharer").on(t.sharedBy, t.id),
    check("content_sharing_type", sql`content_type IN ('posts', 'events')`),
    check("content_sharing_other_tenant", sql`source_tenant_id <> target_tenant_id`),
  ],
);
