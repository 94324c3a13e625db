import { sql } from "drizzle-orm";
import { boolean, check, index, jsonb, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { emptyObject, timestamps } from "./columns";
import { tenants } from "./tenants";
import { users } from "./users";

export const MEMBER_ROLES = ["owner", "admin", "moderator", "member"] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

export const tenantUsers = pgTable(
  "tenant_users",
  {
    tenantId: uuid("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role").$type<MemberRole>().notNull().default("member"),
    isAdmin: boolean("is_admin").notNull().default(false),
    expertiseLevel: text("expertise_level"),
    interests: text("interests").array().notNull().default(sql`'{}'::text[]`),
    notificationPreferences: jsonb("notification_preferences")
      .$type<Record<string, unknown>>()
      .notNull()
      .default(emptyObject),
    displayInFeed: boolean("display_in_feed").notNull().default(true),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ name: "tenant_users_pkey", columns: [t.tenantId, t.userId] }),
    // The feed and "my communities" start from a user; the primary key starts from a tenant.
    // In tenant order: the pages of the user's export.
    index("idx_tenant_users_by_user").on(t.userId, t.tenantId),
    index("idx_tenant_users_composite").on(t.tenantId, t.userId, t.isAdmin),
    index("idx_tenant_users_interests_gin").using("gin", t.interests),
    index("idx_tenant_users_notification_prefs").using("gin", t.notificationPreferences),
    check("tenant_users_role", sql`role IN ('owner', 'admin', 'moderator', 'member')`),
  ],
);

export type TenantUser = typeof tenantUsers.$inferSelect;
