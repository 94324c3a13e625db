import { and, asc, eq, gt, type SQL, sql } from "drizzle-orm";
import { tenants } from "../../../../db/schema";
import { attempt, type Db, type DbError } from "../../../common/db";
import { pageOf } from "../../../common/pages";
import type { Result } from "../../../common/result";
import type { LookupKey } from "./host";

/** The public face of a tenant: what /v1/context serves and the caches hold. */
export interface TenantInfo {
  id: string;
  slug: string;
  name: string;
  logo_url: string | null;
  primary_color: string | null;
  secondary_color: string | null;
  domain: string | null;
  settings: Record<string, unknown>;
}

export interface TenantRow {
  tenant: TenantInfo;
  isActive: boolean;
  updatedAt: string;
  /** Read by the admin API only (adminTenantColumns): when its erasure was asked for. */
  erasureRequestedAt?: string | null;
}

/** The selected columns of a tenant row, shared by lookups and admin writes. */
export const tenantColumns = {
  id: tenants.id,
  slug: tenants.slug,
  name: tenants.name,
  logo_url: tenants.logoUrl,
  primary_color: tenants.primaryColor,
  secondary_color: tenants.secondaryColor,
  domain: tenants.domain,
  settings: tenants.settings,
  isActive: tenants.isActive,
  // RFC 3339 with Postgres' microseconds, as the feed's times leave: the admin API shows it, and
  // the caches compare it as the row's version.
  updatedAt: sql<string>`to_json(${tenants.updatedAt}) #>> '{}'`,
};

/** The admin API's columns: the resolver's, and what only an operator is shown. */
export const adminTenantColumns = {
  ...tenantColumns,
  erasureRequestedAt: sql<string | null>`to_json(${tenants.erasureRequestedAt}) #>> '{}'`,
};

type Selected = TenantInfo & { isActive: boolean; updatedAt: string; erasureRequestedAt?: string | null };

export function toTenantRow({ isActive, updatedAt, erasureRequestedAt, ...tenant }: Selected): TenantRow {
  return erasureRequestedAt === undefined
    ? { tenant, isActive, updatedAt }
    : { tenant, isActive, updatedAt, erasureRequestedAt };
}

/**
 * One tenant row, `columns` the resolver's (tenantColumns, the hot path) or the admin API's: both
 * read through here, limit and timeout alike.
 */
function selectTenant(
  db: Db,
  where: SQL,
  columns: typeof tenantColumns | typeof adminTenantColumns,
  timeoutMs?: number,
): Promise<Result<TenantRow | null, DbError>> {
  return attempt(async () => {
    const [row] = await db.select(columns).from(tenants).where(where).limit(1);
    return row ? toTenantRow(row) : null;
  }, timeoutMs);
}

/** One indexed lookup by slug or domain; inactive tenants come back too, marked. */
export function findTenant(
  db: Db,
  key: LookupKey,
  timeoutMs: number,
): Promise<Result<TenantRow | null, DbError>> {
  const where = eq(key.kind === "slug" ? tenants.slug : tenants.domain, key.value);
  return selectTenant(db, where, tenantColumns, timeoutMs);
}

/** The admin's read of one tenant, active or not, straight from the database (no cache). */
export function findTenantById(db: Db, id: string): Promise<Result<TenantRow | null, DbError>> {
  return selectTenant(db, eq(tenants.id, id), adminTenantColumns);
}

/**
 * The admin's list: tenants in slug order, active or not, after the slug `after` (keyset on the
 * slug's unique index), optionally only the one with a given slug or domain.
 */
export function listTenants(
  db: Db,
  options: { slug?: string; domain?: string; isActive?: boolean; after?: string; limit: number },
): Promise<Result<{ rows: TenantRow[]; more: boolean }, DbError>> {
  return attempt(async () => {
    const rows = await db
      .select(adminTenantColumns)
      .from(tenants)
      .where(
        and(
          options.slug === undefined ? undefined : eq(tenants.slug, options.slug),
          options.domain === undefined ? undefined : eq(tenants.domain, options.domain.toLowerCase()),
          options.isActive === undefined ? undefined : eq(tenants.isActive, options.isActive),
          options.after === undefined ? undefined : gt(tenants.slug, options.after),
        ),
      )
      .orderBy(asc(tenants.slug))
      .limit(options.limit + 1);
    const page = pageOf(rows, options.limit);
    return { rows: page.rows.map(toTenantRow), more: page.more };
  });
}
