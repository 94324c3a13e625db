import { sql } from "drizzle-orm";
import { boolean, check, index, jsonb, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { emptyObject, timestamps } from "./columns";
import { tenants } from "./tenants";
import { users } from "./users";

export const MEMBER_ROLES = ["owner", "admin", "moderator", "member"] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];
/** Roles that run a community, besides the older is_admin flag (workers/common/authz.ts). */
export const ADMIN_MEMBER_ROLES = ["owner", "admin"] as const satisfies readonly MemberRole[];
/** Whether a membership is an admin's, as the partial index below and its readers write it. */
const IS_ADMIN_MEMBERSHIP = sql.raw(
  `is_admin OR role IN (${ADMIN_MEMBER_ROLES.map((role) => `'${role}'`).join(", ")})`,
);

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
    // A community's few admins without walking its members: the admins' list, and the checks
    // that another admin or owner remains (db/migrations/0043).
    index("idx_tenant_users_admins").on(t.tenantId, t.userId).where(IS_ADMIN_MEMBERSHIP),
    index("idx_tenant_users_interests_gin").using("gin", t.interests),
    index("idx_tenant_users_notification_prefs").using("gin", t.notificationPreferences),
    check("tenant_users_role", sql`role IN ('owner', 'admin', 'moderator', 'member')`),
  ],
);

export type TenantUser = typeof tenantUsers.$inferSelect;
