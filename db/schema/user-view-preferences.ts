import { sql } from "drizzle-orm";
import { index, pgTable, uuid } from "drizzle-orm/pg-core";
import { updatedAt } from "./columns";
import { users } from "./users";

/** Which communities a user wants in the cross-community feed when the request names none. */
export const userViewPreferences = pgTable(
  "user_view_preferences",
  {
    userId: uuid("user_id")
      .primaryKey()
      .references(() => users.id, { onDelete: "cascade" }),
    selectedTenantIds: uuid("selected_tenant_ids").array().notNull().default(sql`'{}'::uuid[]`),
    updatedAt: updatedAt(),
  },
  (t) => [index("idx_user_view_preferences_selected_tenant_ids").using("gin", t.selectedTenantIds)],
);
