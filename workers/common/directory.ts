import { and, eq, gt, sql } from "drizzle-orm";
import { tenants } from "../../db/schema";
import { BloomFilter } from "./bloom";
import { attempt, type Db, type DbError } from "./db";
import { err, ok, type Result } from "./result";

/**
 * The directory of active tenants: a Bloom filter over every active slug and custom domain,
 * kept in KV. The tenant worker consults it after an L1 and KV miss, so a flood of requests for
 * distinct unknown subdomains is answered 404 without a database query each.
 *
 * Only the batch worker's cron builds it, every 5 minutes. An admin write needs no build: the
 * tenant entries it writes to KV come before the directory in every lookup, and last 10 minutes,
 * past the next build reaching every isolate (5 minutes, a reload's 60 s, KV's 60 s). Admin
 * writes used to rebuild it each, which at a million tenants read every one of them (~43 MB,
 * 2.5 to 3.8 s a write), and wrote the key the cron writes, which KV takes once a second: a
 * provisioning script's writes would have refused the cron's.
 */
export const DIRECTORY_KEY = "tenant:v1:directory";
/** At 0.1 % false positives a flood of random names reaches the database once per 1,000. */
export const DIRECTORY_FALSE_POSITIVE_RATE = 0.001;
/**
 * Workers KV refuses a value over 25 MiB, which a directory at 0.1 % passes at ~14.6 million
 * names. From ~14 million it stays this size and lets more unknown names through (30 million
 * names: ~4 %), rather than fail to be stored, run after run, and leave every isolate without one.
 */
const DIRECTORY_MAX_BYTES = 24 * 1024 * 1024;

/** The empty filter a build of `names` names fills. */
export function directoryFilter(names: number): BloomFilter {
  return BloomFilter.forItems(names, DIRECTORY_FALSE_POSITIVE_RATE, DIRECTORY_MAX_BYTES);
}

export interface DirectoryMeta {
  hashCount: number;
  items: number;
  builtAt: number;
}

/** The names a request can resolve by: the same strings as the tenant cache keys' tails. */
export function directoryItem(kind: "slug" | "host", value: string): string {
  return `${kind}:${value}`;
}

/**
 * Active tenants read a page at a time, in slug order (the partial index idx_tenants_active):
 * read whole, a million tenants were one ~43 MB answer, past what Neon's SQL-over-HTTP answers
 * (10 MiB), and with its parsed rows more than an isolate's 128 MB. A page of the longest slugs
 * and domains the admin API takes (63 and 253 characters) is ~8.5 MB as the answer's JSON; at
 * 50,000 rows such a page (17 MB) was refused, and with it every build; typical names make ~1 MB.
 */
const DIRECTORY_PAGE_ROWS = 25_000;

export async function buildDirectory(
  db: Db,
  pageRows = DIRECTORY_PAGE_ROWS,
): Promise<Result<{ filter: BloomFilter; meta: DirectoryMeta }, DbError>> {
  const active = eq(tenants.isActive, true);
  // Sized by a count first; a tenant added while the pages are read only nudges the rate up.
  const counted = await attempt(
    () =>
      db
        .select({ names: sql<string>`count(*) + count(${tenants.domain})` })
        .from(tenants)
        .where(active),
    20_000,
  );
  if (!counted.ok) return counted;
  const filter = directoryFilter(Number(counted.value[0]?.names ?? 0));
  // Before the pages: a tenant created while they are read may be missed, so it was not yet there.
  const builtAt = Date.now();
  let items = 0;
  let after: string | undefined;
  for (;;) {
    const from = after;
    const page = await attempt(
      () =>
        db
          .select({ slug: tenants.slug, domain: tenants.domain })
          .from(tenants)
          .where(from === undefined ? active : and(active, gt(tenants.slug, from)))
          .orderBy(tenants.slug)
          .limit(pageRows),
      20_000,
    );
    if (!page.ok) return page;
    for (const { slug, domain } of page.value) {
      filter.add(directoryItem("slug", slug));
      items += 1;
      if (domain) {
        filter.add(directoryItem("host", domain));
        items += 1;
      }
    }
    after = page.value.at(-1)?.slug;
    if (page.value.length < pageRows || after === undefined) break;
  }
  return ok({ filter, meta: { hashCount: filter.hashCount, items, builtAt } });
}

export type PublishError = DbError | { kind: "kv"; message: string };

/** Builds the directory from Postgres and stores it in KV. */
export async function publishDirectory(
  db: Db,
  kv: KVNamespace,
): Promise<Result<{ filter: BloomFilter; meta: DirectoryMeta }, PublishError>> {
  const built = await buildDirectory(db);
  if (!built.ok) return built;
  try {
    await kv.put(DIRECTORY_KEY, built.value.filter.bits, { metadata: built.value.meta });
  } catch (e) {
    return err({ kind: "kv", message: e instanceof Error ? e.message : String(e) });
  }
  return built;
}

export async function readDirectory(
  kv: KVNamespace,
): Promise<{ filter: BloomFilter; meta: DirectoryMeta } | null> {
  const { value, metadata } = await kv.getWithMetadata<DirectoryMeta>(DIRECTORY_KEY, "arrayBuffer");
  if (!value || !metadata || typeof metadata.hashCount !== "number") return null;
  return { filter: new BloomFilter(new Uint8Array(value), metadata.hashCount), meta: metadata };
}
