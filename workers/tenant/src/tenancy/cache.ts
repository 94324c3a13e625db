import type { DbError } from "../../../common/db";
import { describeError, log } from "../../../common/log";
import { err, ok, type Result } from "../../../common/result";
import { microsOf } from "../../../common/time";
import { isBlank, positiveInteger, positiveNumber, unreadableVar } from "../../../common/vars";
import { Lru } from "./lru";
import type { TenantInfo, TenantRow } from "./queries";

/**
 * What L1 and KV hold for one lookup key. `tenant: null` is a negative entry (unknown or
 * inactive: the two are not told apart). `updatedAt` is the row's version, so an older
 * background refresh never replaces a newer entry.
 */
export interface CacheEntry {
  tenant: TenantInfo | null;
  updatedAt: string | null;
  /** Past this (epoch ms) the entry is served but refreshed in the background. */
  softExpiresAt: number;
}

/** `directory`: the active-tenant directory said no, so no query was made. */
export type Tier = "l1" | "kv" | "db" | "stale" | "directory";

export interface Resolved {
  tenant: TenantInfo | null;
  tier: Tier;
}

export interface CacheOptions {
  l1TtlMs: number;
  l1MaxEntries: number;
  /**
   * What L1's entries may add up to, as JSON text. Parsed, JSON takes 2-7x its text in the heap
   * (16 KiB of settings in 400 keys: ~40 KiB), so 5,000 tenants with large settings would be
   * ~200 MB, past an isolate's 128 MB; typical entries (~300 bytes) never reach this bound.
   */
  l1MaxBytes: number;
  /** KV expirationTtl of a positive entry, seconds (the original design's 600). */
  kvTtlSeconds: number;
  /**
   * How long a positive entry is served before a background refresh, ms: how long a change made
   * in the database directly (not through the admin API) may go unseen, and how often each key in
   * use is written to KV again, once per location that serves it.
   */
  softTtlMs: number;
  /** Lifetime of a negative entry in KV and L1, seconds. */
  negativeTtlSeconds: number;
  /** Tiers in use: both normally; turning them off is for measuring each tier, and debugging. */
  useL1: boolean;
  useKv: boolean;
}

export const DEFAULT_CACHE_OPTIONS: CacheOptions = {
  l1TtlMs: 30_000,
  l1MaxEntries: 5_000,
  l1MaxBytes: 8 * 1024 * 1024,
  kvTtlSeconds: 600,
  softTtlMs: 60_000,
  negativeTtlSeconds: 60,
  useL1: true,
  useKv: true,
};

export interface ResolveDeps {
  kv: KVNamespace;
  load: () => Promise<Result<TenantRow | null, DbError>>;
  /** False when the name certainly names no active tenant (the directory); skips the query. */
  mightExist?: () => Promise<boolean>;
  waitUntil: (p: Promise<unknown>) => void;
}

function isEntry(v: unknown): v is CacheEntry {
  return typeof v === "object" && v !== null && "tenant" in v && "softExpiresAt" in v;
}

/**
 * Whether version `a` is newer than `b`. null, a "not found" without a version (the directory's,
 * or one cached before they had versions), is older than anything.
 */
function newer(a: string | null, b: string | null): boolean {
  if (a === null) return false;
  if (b === null) return true;
  return microsOf(a) > microsOf(b);
}

/**
 * A lookup that finds no row is versioned by when it was made, less this margin for the
 * difference between this isolate's clock and the database's (updated_at is the database's).
 * Without a version, a positive entry put back by a load that raced a slug or domain change
 * looked newer than every later "not found" and kept the old name resolving until KV expired
 * it (600 s); with one, the next refresh replaces it.
 */
const NOT_FOUND_CLOCK_MARGIN_MS = 5_000;

/**
 * L1 (this isolate) in front of Workers KV in front of Postgres, with stale-while-revalidate,
 * single flight per key and negative entries. One instance per isolate.
 *
 * Single flight never hands one request's promise to another: in workerd a continuation runs
 * in the context of the request whose I/O resolved it, so a waiter would build its response
 * inside the loader's request and fail ("Cannot perform I/O on behalf of a different
 * request"; the benchmark hit it under load). Waiters instead poll, on their own timers, for
 * the plain result the loader leaves behind.
 */
export class TenantCache {
  readonly l1: Lru<CacheEntry>;
  /**
   * Keys being loaded, each with its load's ticket. Numbered, not timed: two loads of one key
   * can start within one millisecond (workerd's clock stands still between I/O), and a request
   * waiting on a load must get that load's answer, never the one before it (a database error
   * the new load is past).
   */
  private readonly inflight = new Map<string, number>();
  private tickets = 0;
  /** What the last load of a key found, kept briefly for the requests that waited on it. */
  private readonly settled = new Map<string, { ticket: number; result: Result<Resolved, DbError> }>();
  private readonly refreshing = new Set<string>();

  constructor(
    readonly options: CacheOptions = DEFAULT_CACHE_OPTIONS,
    private readonly now: () => number = Date.now,
  ) {
    this.l1 = new Lru(options.l1MaxEntries, now, options.l1MaxBytes);
  }

  /** `loadedAt`: when the lookup that found `row` started; it versions a "not found". */
  entryFor(row: TenantRow | null, loadedAt?: number): CacheEntry {
    const live = row?.isActive ? row : null;
    const notFoundAsOf =
      loadedAt === undefined ? null : new Date(loadedAt - NOT_FOUND_CLOCK_MARGIN_MS).toISOString();
    return {
      tenant: live ? live.tenant : null,
      updatedAt: row ? row.updatedAt : notFoundAsOf,
      softExpiresAt: this.now() + (live ? this.options.softTtlMs : this.options.negativeTtlSeconds * 1000),
    };
  }

  private l1Ttl(entry: CacheEntry): number {
    return entry.tenant
      ? this.options.l1TtlMs
      : Math.min(this.options.l1TtlMs, this.options.negativeTtlSeconds * 1000);
  }

  private remember(key: string, entry: CacheEntry, ttlMs: number): void {
    // Sized only here, on the way in from KV or the database, never on an L1 hit.
    if (this.options.useL1) this.l1.set(key, entry, ttlMs, key.length + JSON.stringify(entry).length);
  }

  async resolve(key: string, deps: ResolveDeps): Promise<Result<Resolved, DbError>> {
    const cached = this.options.useL1 ? this.l1.peek(key) : undefined;
    if (cached?.fresh) {
      this.maybeRefresh(key, cached.value, deps);
      return ok({ tenant: cached.value.tenant, tier: "l1" });
    }
    // KV reads are cheap and each request makes its own; only the database load is shared.
    const fromKv = await this.readKv(deps.kv, key);
    if (fromKv) {
      this.remember(key, fromKv, this.l1Ttl(fromKv));
      this.maybeRefresh(key, fromKv, deps);
      return ok({ tenant: fromKv.tenant, tier: "kv" });
    }
    if (deps.mightExist && !(await deps.mightExist())) {
      // Kept in this isolate only: writing KV for every name of a random-subdomain flood would
      // turn the flood into KV writes.
      const entry = this.entryFor(null);
      this.remember(key, entry, this.l1Ttl(entry));
      return ok({ tenant: null, tier: "directory" });
    }
    const running = this.inflight.get(key);
    if (running !== undefined) {
      const shared = await this.awaitSettled(key, running);
      if (shared) return shared;
    }
    const ticket = ++this.tickets;
    this.inflight.set(key, ticket);
    try {
      const result = await this.load(key, cached?.value, deps);
      this.settled.set(key, { ticket, result });
      if (this.settled.size > 1_000) this.settled.clear();
      return result;
    } finally {
      this.inflight.delete(key);
    }
  }

  /** How long a waiter polls for another request's load before loading itself. */
  static readonly WAIT_MS = 2_000;
  static readonly POLL_MS = 2;

  private async awaitSettled(key: string, ticket: number): Promise<Result<Resolved, DbError> | undefined> {
    const deadline = Date.now() + TenantCache.WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, TenantCache.POLL_MS));
      const done = this.settled.get(key);
      if (done && done.ticket >= ticket) return done.result;
      if (!this.inflight.has(key)) return undefined; // the load ended without a result to share
    }
    return undefined;
  }

  private async load(
    key: string,
    stale: CacheEntry | undefined,
    deps: ResolveDeps,
  ): Promise<Result<Resolved, DbError>> {
    const started = this.now();
    const loaded = await deps.load();
    if (!loaded.ok) {
      // The database is down or slow: an old answer beats none.
      if (stale) return ok({ tenant: stale.tenant, tier: "stale" });
      return err(loaded.error);
    }
    const entry = this.entryFor(loaded.value, started);
    // An admin write in this isolate may have landed while we loaded: it is the newer answer.
    const meanwhile = this.l1.peek(key)?.value;
    if (meanwhile && meanwhile !== stale && newer(meanwhile.updatedAt, entry.updatedAt)) {
      return ok({ tenant: meanwhile.tenant, tier: "l1" });
    }
    this.remember(key, entry, this.l1Ttl(entry));
    deps.waitUntil(
      this.store(deps.kv, key, entry).then((kept) => {
        if (kept !== entry) this.remember(key, kept, this.l1Ttl(kept));
      }),
    );
    return ok({ tenant: entry.tenant, tier: "db" });
  }

  /** Past its soft expiry an entry is still served; one background load per key replaces it. */
  private maybeRefresh(key: string, entry: CacheEntry, deps: ResolveDeps): void {
    if (entry.softExpiresAt > this.now() || this.refreshing.has(key)) return;
    this.refreshing.add(key);
    deps.waitUntil(this.refresh(key, entry, deps).finally(() => this.refreshing.delete(key)));
  }

  private async refresh(key: string, held: CacheEntry, deps: ResolveDeps): Promise<void> {
    // Every isolate that holds an entry reaches its soft expiry at the same moment. The first to
    // refresh renews KV; the others take its entry rather than each querying the database and
    // writing the key again (KV takes one write a second per key and refuses the rest, and a
    // refused admin write then has to wait: see put).
    const renewed = await this.readKv(deps.kv, key);
    if (renewed && renewed.softExpiresAt > this.now() && !newer(held.updatedAt, renewed.updatedAt)) {
      this.remember(key, renewed, this.l1Ttl(renewed));
      return;
    }
    const started = this.now();
    const loaded = await deps.load();
    if (!loaded.ok) {
      log("warn", "tenant refresh failed; serving cached entry", { key, ...loaded.error });
      return;
    }
    const kept = await this.store(deps.kv, key, this.entryFor(loaded.value, started));
    this.remember(key, kept, this.l1Ttl(kept));
  }

  /**
   * Puts a loaded entry in KV unless KV holds a newer version: an admin write (in any isolate)
   * may have landed while it loaded, and an older version must never be put back. Returns the
   * entry KV keeps.
   */
  private async store(kv: KVNamespace, key: string, entry: CacheEntry): Promise<CacheEntry> {
    const current = await this.readKv(kv, key);
    if (current && newer(current.updatedAt, entry.updatedAt)) return current;
    await this.writeKv(kv, key, entry);
    return entry;
  }

  /** How many times an admin write tries KV again, and how long it waits first (times the try). */
  static readonly PUT_RETRIES = 2;
  static readonly PUT_RETRY_MS = 1_100;

  /**
   * Admin writes: the new entry everywhere this isolate can reach, at once. KV refuses a second
   * write to one key within a second (429), as when a refresh elsewhere has just renewed it; an
   * admin write that gave up then would leave other isolates the old entry until its soft
   * expiry, so it tries again after the second is over, unless KV by then holds this version or
   * a newer one (a later admin write must not be undone).
   */
  async put(kv: KVNamespace, key: string, entry: CacheEntry): Promise<void> {
    this.remember(key, entry, this.l1Ttl(entry));
    for (let retry = 1; !(await this.writeKv(kv, key, entry)); retry++) {
      if (retry > TenantCache.PUT_RETRIES) {
        log("error", "tenant cache write failed; other isolates serve the old entry until it is refreshed", {
          key,
          soft_ttl_ms: this.options.softTtlMs,
        });
        return;
      }
      await new Promise((r) => setTimeout(r, TenantCache.PUT_RETRY_MS * retry));
      const current = await this.readKv(kv, key);
      if (current && !newer(entry.updatedAt, current.updatedAt)) return;
    }
  }

  async readKv(kv: KVNamespace, key: string): Promise<CacheEntry | undefined> {
    if (!this.options.useKv) return undefined;
    try {
      const value = await kv.get<unknown>(key, "json");
      return isEntry(value) ? value : undefined;
    } catch (e) {
      // KV trouble is not an outage: fall through to the database.
      log("warn", "tenant cache read failed", { key, ...describeError(e) });
      return undefined;
    }
  }

  /** Whether KV took the entry (or is not in use); a refusal is logged, never thrown. */
  async writeKv(kv: KVNamespace, key: string, entry: CacheEntry): Promise<boolean> {
    if (!this.options.useKv) return true;
    try {
      await kv.put(key, JSON.stringify(entry), {
        expirationTtl: entry.tenant ? this.options.kvTtlSeconds : this.options.negativeTtlSeconds,
      });
      return true;
    } catch (e) {
      log("warn", "tenant cache write failed", { key, ...describeError(e) });
      return false;
    }
  }
}

export interface CacheVars {
  TENANT_L1_TTL_SECONDS?: string;
  TENANT_L1_MAX_ENTRIES?: string;
  TENANT_L1_MAX_BYTES?: string;
  TENANT_NEGATIVE_TTL_SECONDS?: string;
  TENANT_SOFT_TTL_SECONDS?: string;
  /** Comma-separated tiers to use: "l1,kv" (default), "kv", "l1" or "none"; any other name keeps both. */
  TENANT_CACHE_TIERS?: string;
}

export function cacheOptions(vars: CacheVars): CacheOptions {
  const d = DEFAULT_CACHE_OPTIONS;
  return {
    ...d,
    l1TtlMs: positiveNumber(vars.TENANT_L1_TTL_SECONDS, d.l1TtlMs / 1000, "TENANT_L1_TTL_SECONDS") * 1000,
    l1MaxEntries: positiveInteger(vars.TENANT_L1_MAX_ENTRIES, d.l1MaxEntries, "TENANT_L1_MAX_ENTRIES"),
    l1MaxBytes: positiveInteger(vars.TENANT_L1_MAX_BYTES, d.l1MaxBytes, "TENANT_L1_MAX_BYTES"),
    // KV refuses expirationTtl under 60 s, and its API documents whole seconds.
    negativeTtlSeconds: Math.max(
      60,
      Math.ceil(
        positiveNumber(vars.TENANT_NEGATIVE_TTL_SECONDS, d.negativeTtlSeconds, "TENANT_NEGATIVE_TTL_SECONDS"),
      ),
    ),
    // At most half of KV's lifetime: an entry in use is refreshed, and so renewed in KV, well
    // before it lapses (past it, every isolate would load it from the database).
    softTtlMs:
      Math.min(
        positiveNumber(vars.TENANT_SOFT_TTL_SECONDS, d.softTtlMs / 1000, "TENANT_SOFT_TTL_SECONDS"),
        d.kvTtlSeconds / 2,
      ) * 1000,
    ...tiers(vars.TENANT_CACHE_TIERS),
  };
}

const TIER_NAMES = new Set(["l1", "kv", "none"]);

function tiers(value: string | undefined): { useL1: boolean; useKv: boolean } {
  const both = { useL1: true, useKv: true };
  if (isBlank(value)) return both;
  const names = new Set(
    value
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  // A name misspelt ("l1;kv", "L2") took its tier away, and with both gone every request went to
  // the database: a tier is only turned off by naming the others, or "none".
  if ([...names].some((n) => !TIER_NAMES.has(n))) {
    unreadableVar("TENANT_CACHE_TIERS", value, "l1,kv");
    return both;
  }
  return { useL1: names.has("l1"), useKv: names.has("kv") };
}

let isolateCache: TenantCache | undefined;

/**
 * The isolate's cache: module scope outlives requests, which is the point of L1. Sized by the
 * worker's vars on first use (they do not change within an isolate).
 */
export function tenantCacheFor(vars: CacheVars): TenantCache {
  isolateCache ??= new TenantCache(cacheOptions(vars));
  return isolateCache;
}
