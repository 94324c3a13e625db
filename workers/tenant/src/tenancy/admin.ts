import { and, eq, sql } from "drizzle-orm";
import { auditEvents, tenants } from "../../../../db/schema";
import { attempt, type Database, type DbError } from "../../../common/db";
import { err, ok, type Result } from "../../../common/result";
import { changesBetween } from "../audit/queries";
import type { CacheEntry, TenantCache } from "./cache";
import { cacheKey } from "./host";
import { adminTenantColumns, type TenantRow, toTenantRow } from "./queries";

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

export type AdminError =
  | { kind: "conflict"; field: "slug" | "domain" }
  | { kind: "not_found" }
  /** Its erasure was asked for: it stays as it is until it is gone. */
  | { kind: "erasing" }
  | DbError;

export type ErasureError =
  | { kind: "not_found" }
  /** Erasure is asked of a deactivated community only: deactivation is the step that can be undone. */
  | { kind: "active" }
  /** The request named another slug than the community's: a confirmation that does not match. */
  | { kind: "slug_mismatch" }
  | DbError;

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

/** What the audit log compares of a tenant: every field an operator sets. */
const AUDITED = [
  "slug",
  "name",
  "domain",
  "logo_url",
  "primary_color",
  "secondary_color",
  "settings",
  "is_active",
] as const;

function audited(row: TenantRow) {
  const { id: _, ...fields } = row.tenant;
  return { ...fields, is_active: row.isActive };
}

/**
 * An operator's creation or change of a tenant as its audit row, with the fields that changed:
 * null when none did.
 */
function tenantAudit(
  action: "tenant.created" | "tenant.updated",
  before: TenantRow | null,
  after: TenantRow,
  requestId: string,
) {
  const changes = changesBetween(before && audited(before), audited(after), AUDITED);
  if (Object.keys(changes).length === 0) return null;
  return { tenantId: after.tenant.id, action, actorKind: "operator" as const, changes, requestId };
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
  requestId: string,
): Promise<Result<TenantRow, AdminError>> {
  const inserted = await attempt(() =>
    db.transaction(async (tx) => {
      const [first] = await tx
        .insert(tenants)
        .values({ ...toColumns(fields), slug: fields.slug, name: fields.name })
        .returning(adminTenantColumns);
      if (!first) return null;
      const row = toTenantRow(first);
      const entry = tenantAudit("tenant.created", null, row, requestId);
      if (entry) await tx.insert(auditEvents).values(entry);
      return row;
    }),
  );
  if (!inserted.ok) return err(classify(inserted.error));
  const row = inserted.value;
  if (!row) return err({ kind: "query", message: "insert returned no row" });
  await rewriteCache(cache, kv, null, row);
  return ok(row);
}

export async function updateTenant(
  db: Database,
  kv: KVNamespace,
  cache: TenantCache,
  id: string,
  fields: TenantFields,
  requestId: string,
): Promise<Result<TenantRow, AdminError>> {
  const result = await attempt(() =>
    db.transaction(async (tx) => {
      const [before] = await tx
        .select(adminTenantColumns)
        .from(tenants)
        .where(eq(tenants.id, id))
        .for("update");
      if (!before) return null;
      if (before.erasureRequestedAt) return "erasing" as const;
      const [after] = await tx
        .update(tenants)
        .set(toColumns(fields))
        .where(eq(tenants.id, id))
        .returning(adminTenantColumns);
      if (!after) return null;
      const change = { before: toTenantRow(before), after: toTenantRow(after) };
      const entry = tenantAudit("tenant.updated", change.before, change.after, requestId);
      if (entry) await tx.insert(auditEvents).values(entry);
      return change;
    }),
  );
  if (!result.ok) return err(classify(result.error));
  if (!result.value) return err({ kind: "not_found" });
  if (result.value === "erasing") return err({ kind: "erasing" });
  await rewriteCache(cache, kv, result.value.before, result.value.after);
  return ok(result.value.after);
}

/**
 * Marks a deactivated community for erasure, the slug given as its confirmation; asking again
 * keeps the first request's time. The batch worker's cron erases it (db/migrations/0045). Nothing
 * cached changes: a deactivated tenant is already answered as unknown, and its keys keep saying so
 * until a new tenant takes its slug or domain (whose write replaces them).
 */
export async function requestErasure(
  db: Database,
  id: string,
  slug: string,
  requestId: string,
): Promise<Result<TenantRow, ErasureError>> {
  const marked = await attempt(() =>
    db.transaction(async (tx) => {
      const [before] = await tx
        .select({ erasureRequestedAt: tenants.erasureRequestedAt })
        .from(tenants)
        .where(eq(tenants.id, id))
        .for("update");
      const [row] = await tx
        .update(tenants)
        .set({ erasureRequestedAt: sql`coalesce(${tenants.erasureRequestedAt}, now())` })
        .where(and(eq(tenants.id, id), eq(tenants.slug, slug), eq(tenants.isActive, false)))
        .returning(adminTenantColumns);
      if (!row) return null;
      // The first request is the operator's decision; asking again changes nothing to record.
      if (before?.erasureRequestedAt === null) {
        await tx
          .insert(auditEvents)
          .values({ tenantId: id, action: "tenant.erasure_requested", actorKind: "operator", requestId });
      }
      return toTenantRow(row);
    }),
  );
  if (!marked.ok) return marked;
  if (marked.value) return ok(marked.value);
  // Why not: read after the fact, since the UPDATE alone cannot say.
  const found = await attempt(() =>
    db.select({ slug: tenants.slug, isActive: tenants.isActive }).from(tenants).where(eq(tenants.id, id)),
  );
  if (!found.ok) return found;
  const [tenant] = found.value;
  if (!tenant) return err({ kind: "not_found" });
  return err(tenant.isActive ? { kind: "active" } : { kind: "slug_mismatch" });
}
