import { pgTable, uuid } from "drizzle-orm/pg-core";
import { tstz } from "./columns";

/**
 * Every user id the identity provider's calls have named (PUT and DELETE /admin/users/{id}, the
 * Supabase hook), and what those calls are ordered by. Webhooks come in no order: pg_net sends a
 * batch of them at once, and other providers retry a failed one for hours. Each save and erasure
 * of an id locks its row here first, so the two are applied one after the other; and the row
 * outlives the user (no foreign key), so a sign-up or change that arrives after the erasure
 * never saves them again. It holds the id and two times, nothing personal.
 */
export const providerUsers = pgTable("provider_users", {
  id: uuid("id").primaryKey(),
  /** When the user was erased: no save of the id is applied after it (providers do not reuse ids). */
  erasedAt: tstz("erased_at"),
  /** The provider's own time (its updated_at) of the newest change saved: an older one changes nothing. */
  changedAt: tstz("changed_at"),
});

export type ProviderUser = typeof providerUsers.$inferSelect;
