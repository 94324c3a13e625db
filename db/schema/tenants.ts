import { sql } from "drizzle-orm";
import { boolean, check, index, jsonb, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { emptyObject, id, timestamps, tstz } from "./columns";

/** A DNS label: what a tenant slug must be to work as a subdomain. */
export const SLUG_PATTERN = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";

/**
 * The longest name, in code points (as both zod and char_length count them). A page of "my
 * communities" hands out the last name in its cursor, which must fit the cursor's own bound
 * (feed/cursor.ts), so the table holds every writer to it, not only the API.
 */
export const TENANT_NAME_MAX_LENGTH = 200;

export const tenants = pgTable(
  "tenants",
  {
    id: id(),
    slug: text("slug").notNull(),
    name: text("name").notNull(),
    logoUrl: text("logo_url"),
    primaryColor: text("primary_color"),
    secondaryColor: text("secondary_color"),
    domain: text("domain"),
    settings: jsonb("settings").$type<Record<string, unknown>>().notNull().default(emptyObject),
    isActive: boolean("is_active").notNull().default(true),
    /**
     * When an operator asked for the community's erasure (POST /admin/tenants/{id}/erasure): set
     * once, on a deactivated tenant, never cleared; the batch worker's cron then deletes its data
     * a chunk at a time, and the row last (db/migrations/0045).
     */
    erasureRequestedAt: tstz("erasure_requested_at"),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex("tenants_slug_key").on(t.slug),
    uniqueIndex("tenants_domain_key").on(t.domain),
    // Named by the original design; the partial index keeps hot-path lookups of active tenants small.
    index("idx_tenants_active").on(t.slug).where(sql`is_active = true`),
    index("idx_tenants_domain").on(t.domain).where(sql`domain IS NOT NULL`),
    // The cron asks every five minutes which tenants are to be erased: almost always none.
    index("idx_tenants_erasure").on(t.erasureRequestedAt).where(sql`erasure_requested_at IS NOT NULL`),
    check("tenants_slug_format", sql.raw(`slug ~ '${SLUG_PATTERN}'`)),
    // Host lookups compare lower-case hosts with an equality index, so the column must be lower-case.
    check("tenants_domain_lowercase", sql`domain = lower(domain)`),
    check("tenants_name_not_blank", sql`length(btrim(name)) > 0`),
    check("tenants_name_length", sql.raw(`char_length(name) <= ${TENANT_NAME_MAX_LENGTH}`)),
  ],
);

export type Tenant = typeof tenants.$inferSelect;
export type NewTenant = typeof tenants.$inferInsert;
