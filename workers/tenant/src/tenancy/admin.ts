import { eq } from "drizzle-orm";
import { tenants } from "../../../../db/schema";
import { attempt, type Database, type DbError } from "../../../common/db";
import { err, ok, type Result } from "../../../common/result";
import type { CacheEntry, TenantCache } from "./cache";
import { cacheKey } from "./host";
import { type TenantRow, tenantColumns, toTenantRow } from "./queries";

export interface TenantFields {
  slug?: string;
  name?: string;
  domain?: string | null;
  logo_url?: string | null;
  primary_color?: string | null;
  secondary_color?: string | null;
  settings?: Record<string, unknown>;
  is_active?: boolean;
}

export type AdminError = { kind: "conflict"; field: "slug" | "domain" } | { kind: "not_found" } | DbError;

function toColumns(f: TenantFields) {
  return {
    slug: f.slug,
    name: f.name,
    domain: f.domain === undefined ? undefined : (f.domain?.toLowerCase() ?? null),
    logoUrl: f.logo_url,
    primaryColor: f.primary_color,
    secondaryColor: f.secondary_color,
    settings: f.settings,
    isActive: f.is_active,
  };
}

function classify(e: DbError): AdminError {
  if (e.code === "23505" && e.constraint === "tenants_slug_key") return { kind: "conflict", field: "slug" };
  if (e.code === "23505" && e.constraint === "tenants_domain_key")
    return { kind: "conflict", field: "domain" };
  return e;
}

function keysOf(row: TenantRow): string[] {
  const keys = [cacheKey({ kind: "slug", value: row.tenant.slug })];
  if (row.tenant.domain) keys.push(cacheKey({ kind: "host", value: row.tenant.domain }));
  return keys;
}

/**
 * The new slug and domain keys get the new entry. The old ones get a negative entry stamped with
 * the new version rather than a delete, so a background refresh that loaded the old row just
 * before the write cannot put it back (refreshes never replace a newer version).
 */
async function rewriteCache(
  cache: TenantCache,
  kv: KVNamespace,
  before: TenantRow | null,
  after: TenantRow,
): Promise<void> {
  const entry: CacheEntry = cache.entryFor(after);
  const current = keysOf(after);
  const moved = before ? keysOf(before).filter((k) => !current.includes(k)) : [];
  const tombstone: CacheEntry = { ...cache.entryFor(null), updatedAt: after.updatedAt };
  await Promise.all([
    ...current.map((k) => cache.put(kv, k, entry)),
    ...moved.map((k) => cache.put(kv, k, tombstone)),
  ]);
}

export async function createTenant(
  db: Database,
  kv: KVNamespace,
  cache: TenantCache,
  fields: TenantFields & { slug: string; name: string },
): Promise<Result<TenantRow, AdminError>> {
  const inserted = await attempt(() =>
    db
      .insert(tenants)
      .values({ ...toColumns(fields), slug: fields.slug, name: fields.name })
      .returning(tenantColumns),
  );
  if (!inserted.ok) return err(classify(inserted.error));
  const [first] = inserted.value;
  if (!first) return err({ kind: "query", message: "insert returned no row" });
  const row = toTenantRow(first);
  await rewriteCache(cache, kv, null, row);
  return ok(row);
}

export async function updateTenant(
  db: Database,
  kv: KVNamespace,
  cache: TenantCache,
  id: string,
  fields: TenantFields,
): Promise<Result<TenantRow, AdminError>> {
  const result = await attempt(() =>
    db.transaction(async (tx) => {
      const [before] = await tx.select(tenantColumns).from(tenants).where(eq(tenants.id, id)).for("update");
      if (!before) return null;
      const [after] = await tx
        .update(tenants)
        .set(toColumns(fields))
        .where(eq(tenants.id, id))
        .returning(tenantColumns);
      return after ? { before: toTenantRow(before), after: toTenantRow(after) } : null;
    }),
  );
  if (!result.ok) return err(classify(result.error));
  if (!result.value) return err({ kind: "not_found" });
  await rewriteCache(cache, kv, result.value.before, result.value.after);
  return ok(result.value.after);
}
