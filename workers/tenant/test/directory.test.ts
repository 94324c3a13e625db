import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { neon } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-http";
import { beforeAll, describe, expect, it } from "vitest";
import * as schema from "../../../db/schema";
import { BloomFilter } from "../../common/bloom";
import { openHttpDb } from "../../common/db";
import {
  buildDirectory,
  DIRECTORY_FALSE_POSITIVE_RATE,
  DIRECTORY_KEY,
  type DirectoryMeta,
  directoryFilter,
  directoryItem,
  publishDirectory,
  readDirectory,
} from "../../common/directory";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { brokenKv } from "../../test-support/kv";
import worker from "../src/index";
import { DEFAULT_CACHE_OPTIONS, tenantCacheFor } from "../src/tenancy/cache";
import { RELOAD_MS, TenantDirectory, tenantDirectory } from "../src/tenancy/directory";

let db: WorkerTestDb;

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (slug, name, domain)
    SELECT 'known-' || g, 'Known ' || g, CASE WHEN g % 10 = 0 THEN 'forum-' || g || '.example.test' END
    FROM generate_series(1, 200) g`);
});

async function call(url: string, init: RequestInit = {}, overrides: Partial<typeof env> = {}) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(url, init), { ...env, DATABASE_URL: db.url, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** A request that opened the database reports its time in Server-Timing `db`. */
const usedDatabase = (res: Response) => /(^|, )db;dur=/.test(res.headers.get("server-timing") ?? "");

/** An admin API call with the admin token, its body (if any) as JSON. */
const admin = (method: string, path: string, body?: unknown) =>
  call(`http://api.localhost/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** A client that counts its statements, through the local proxy. */
function countingDb() {
  openHttpDb({ ...env, DATABASE_URL: db.url }); // points the driver at the local proxy
  const counter = { statements: 0 };
  const client = drizzle({
    client: neon(db.url),
    schema,
    logger: { logQuery: () => void counter.statements++ },
  });
  return { client, counter };
}

/** A build from every active tenant, as the batch worker's cron makes every 5 minutes. */
async function rebuildDirectory() {
  const published = await publishDirectory(countingDb().client, env.TENANT_CACHE);
  if (!published.ok) throw new Error(published.error.message);
  return published.value;
}

describe("active-tenant directory", () => {
  it("answers a flood of 2,000 distinct unknown subdomains with at most 1 query per 100 requests", async () => {
    await rebuildDirectory();
    let queries = 0;
    for (let i = 0; i < 2_000; i++) {
      const res = await call(`http://flood-${i}-${crypto.randomUUID().slice(0, 6)}.localhost/v1/context`);
      expect(res.status).toBe(404);
      if (usedDatabase(res)) queries++;
    }
    expect(queries).toBeLessThanOrEqual(20);
  });

  it("still resolves every active tenant, by slug and by custom domain (no false negatives)", async () => {
    await rebuildDirectory();
    for (const g of [1, 10, 57, 200]) {
      expect((await call(`http://known-${g}.localhost/v1/context`)).status).toBe(200);
    }
    expect((await call("http://forum-20.example.test/v1/context")).status).toBe(200);
  });

  it("is loaded from KV by a fresh isolate, and a tenant created by an admin resolves at once", async () => {
    await rebuildDirectory();
    tenantDirectory.reset();
    tenantCacheFor(env).l1.clear();
    const unknown = await call("http://nobody-here.localhost/v1/context");
    expect([unknown.status, usedDatabase(unknown)]).toEqual([404, false]);
    const created = await admin("POST", "/tenants", { slug: "brand-new", name: "Brand new" });
    expect(created.status).toBe(201);
    tenantCacheFor(env).l1.clear();
    expect((await call("http://brand-new.localhost/v1/context")).status).toBe(200);
  });

  it("stops trusting a directory its rebuilds left older than 15 minutes: it may miss tenants created since", async () => {
    await rebuildDirectory();
    const builtAt = (await readDirectory(env.TENANT_CACHE))?.meta.builtAt ?? 0;
    let now = builtAt + 14 * 60_000;
    const directory = new TenantDirectory(() => now);
    const mightExist = () =>
      directory.mightExist(directoryItem("slug", "created-since"), env.TENANT_CACHE, () => {});
    expect(await mightExist()).toBe(false);
    now = builtAt + 16 * 60_000;
    expect(await mightExist()).toBe(true);
  });

  it("takes a directory another isolate published within a minute, and never goes back to an older one", async () => {
    await rebuildDirectory();
    const older = await env.TENANT_CACHE.getWithMetadata<DirectoryMeta>(DIRECTORY_KEY, "arrayBuffer");
    let now = older.metadata?.builtAt ?? 0;
    const directory = new TenantDirectory(() => now);
    const background: Promise<unknown>[] = [];
    const lateComer = async () => {
      const answer = directory.mightExist(directoryItem("slug", "late-comer"), env.TENANT_CACHE, (p) => {
        background.push(p);
      });
      await Promise.all(background.splice(0));
      return answer;
    };
    expect(await lateComer()).toBe(false);
    // Another isolate publishes a directory with a tenant this one has not heard of.
    await db.query("INSERT INTO tenants (slug, name) VALUES ('late-comer', 'Late comer')");
    await rebuildDirectory();
    now += 59_000;
    expect(await lateComer()).toBe(false);
    now += 2_000;
    // The directory in hand answers while the newer one loads behind; the next request has it.
    expect(await lateComer()).toBe(false);
    expect(await lateComer()).toBe(true);
    // KV at this location still serving the older directory (it lags) must not undo that.
    await env.TENANT_CACHE.put(DIRECTORY_KEY, older.value ?? new ArrayBuffer(0), {
      metadata: older.metadata,
    });
    now += 61_000;
    expect([await lateComer(), await lateComer()]).toEqual([true, true]);
    await rebuildDirectory();
  });

  it("answers a deactivated tenant 404 at once in every isolate, and leaves it out of the next build", async () => {
    await rebuildDirectory();
    const [known] = await db.query<{ id: string }>("SELECT id FROM tenants WHERE slug = 'known-3'");
    const res = await admin("DELETE", `/tenants/${known?.id}`);
    expect(res.status).toBe(200);
    // An isolate that has not seen the write has KV's entries and directory to go by.
    tenantDirectory.reset();
    tenantCacheFor(env).l1.clear();
    expect((await call("http://known-3.localhost/v1/context")).status).toBe(404);
    expect((await rebuildDirectory()).filter.has(directoryItem("slug", "known-3"))).toBe(false);
  });

  it("answers what an admin write names at once in an isolate whose directory predates it, and leaves the directory to the cron", async () => {
    const built = await rebuildDirectory();
    tenantDirectory.reset();
    // The isolate loads the directory now, and would not look again for a minute.
    expect((await call("http://not-made-yet.localhost/v1/context")).status).toBe(404);
    const created = await admin("POST", "/tenants", {
      slug: "made-after",
      name: "Made after",
      domain: "made-after.example.test",
    });
    const { id } = (await created.json()) as { id: string };
    const other = await admin("POST", "/tenants", { slug: "reactivated-after", name: "Reactivated" });
    const { id: otherId } = (await other.json()) as { id: string };
    await admin("DELETE", `/tenants/${otherId}`);
    const answers = async () => {
      tenantCacheFor(env).l1.clear(); // another isolate: KV and its directory are all it has
      return Promise.all(
        [
          "http://made-after.localhost/v1/context",
          "http://made-after.example.test/v1/context",
          "http://renamed-after.localhost/v1/context",
          "http://renamed-after.example.test/v1/context",
          "http://reactivated-after.localhost/v1/context",
        ].map(async (url) => (await call(url)).status),
      );
    };
    expect(await answers()).toEqual([200, 200, 404, 404, 404]);
    await admin("PATCH", `/tenants/${id}`, { slug: "renamed-after", domain: "renamed-after.example.test" });
    await admin("PATCH", `/tenants/${otherId}`, { is_active: true });
    expect(await answers()).toEqual([404, 404, 200, 200, 200]);
    // None of it touched the directory: the cron's build is still the one in KV, and in use.
    expect((await readDirectory(env.TENANT_CACHE))?.meta).toEqual(built.meta);
    expect(
      await tenantDirectory.mightExist(directoryItem("slug", "renamed-after"), env.TENANT_CACHE, () => {}),
    ).toBe(false);
  });

  it("keeps an admin write's KV entries for longer than the cron's next build takes to reach every isolate", () => {
    // The refresh cron's 5 minutes, an isolate's reload of the directory, KV's 60 s propagation.
    const reached = 5 * 60_000 + RELOAD_MS + 60_000;
    expect(DEFAULT_CACHE_OPTIONS.kvTtlSeconds * 1000).toBeGreaterThan(reached);
  });

  it("looks again within seconds when KV had no directory, so the first one published is used soon", async () => {
    await env.TENANT_CACHE.delete(DIRECTORY_KEY);
    let now = Date.now();
    const directory = new TenantDirectory(() => now);
    const unknown = () =>
      directory.mightExist(directoryItem("slug", "never-made"), env.TENANT_CACHE, () => {});
    expect(await unknown()).toBe(true); // nothing to go by
    await rebuildDirectory();
    now += 6_000;
    expect(await unknown()).toBe(false);
  });

  it("falls back to the database when KV cannot be read, the directory included", async () => {
    tenantDirectory.reset();
    const kv = brokenKv();
    const unknown = await call("http://kv-down-unknown.localhost/v1/context", {}, { TENANT_CACHE: kv });
    expect([unknown.status, usedDatabase(unknown)]).toEqual([404, true]);
    const known = await call("http://known-7.localhost/v1/context", {}, { TENANT_CACHE: kv });
    expect(known.status).toBe(200);
  });

  it("stays storable in KV at 20 million names, where a filter sized for them at 0.1 % is refused", async () => {
    const names = 20_000_000;
    const stored = directoryFilter(names);
    await env.TENANT_CACHE.put("directory-size-check", stored.bits);
    const unbounded = BloomFilter.forItems(names, DIRECTORY_FALSE_POSITIVE_RATE);
    expect(unbounded.bits.length).toBeGreaterThan(25 * 1024 * 1024);
    await expect(env.TENANT_CACHE.put("directory-size-check", unbounded.bits)).rejects.toThrow(/413/);
    await env.TENANT_CACHE.delete("directory-size-check");
  });

  it("reads the active tenants a page at a time, every active slug and domain in, no inactive one", async () => {
    await db.query(`
      INSERT INTO tenants (slug, name, domain, is_active)
      VALUES ('gone-1', 'Gone', 'gone-1.example.test', false), ('gone-2', 'Gone', NULL, false)`);
    const { client, counter } = countingDb();
    const built = await buildDirectory(client, 7);
    if (!built.ok) throw new Error(built.error.message);

    const active = await db.query<{ slug: string; domain: string | null }>(
      "SELECT slug, domain FROM tenants WHERE is_active",
    );
    const names = active.flatMap((t) => [
      directoryItem("slug", t.slug),
      ...(t.domain ? [directoryItem("host", t.domain)] : []),
    ]);
    expect(names.filter((n) => !built.value.filter.has(n))).toEqual([]);
    expect(built.value.meta.items).toBe(names.length);
    for (const gone of ["slug:gone-1", "host:gone-1.example.test", "slug:gone-2"]) {
      expect(built.value.filter.has(gone)).toBe(false);
    }
    // A count, then pages of 7 until one comes back short.
    expect(counter.statements).toBe(1 + Math.floor(active.length / 7) + 1);
  });

  it("builds from the longest slugs and domains the admin API takes, every page small enough to answer", async () => {
    // 40,000 of 63 and 253 characters: one answer of 13 MB, past Neon's 10 MiB, read whole.
    await db.query(`
      INSERT INTO tenants (slug, name, domain)
      SELECT 'l' || lpad(g::text, 62, '0'), 'Long ' || g,
             lpad(g::text, 63, 'a') || '.' || repeat('b', 63) || '.' || repeat('c', 63) || '.' || repeat('d', 56) || '.test'
      FROM generate_series(1, 40000) g`);
    try {
      const built = await rebuildDirectory();
      const [last] = await db.query<{ slug: string; domain: string }>(
        "SELECT slug, domain FROM tenants WHERE slug LIKE 'l0%' ORDER BY slug DESC LIMIT 1",
      );
      expect(last?.domain).toHaveLength(253);
      expect(built.filter.has(directoryItem("slug", String(last?.slug)))).toBe(true);
      expect(built.filter.has(directoryItem("host", String(last?.domain)))).toBe(true);
    } finally {
      await db.query("DELETE FROM tenants WHERE slug LIKE 'l0%'");
    }
  });

  it("falls back to the database when there is no directory at all", async () => {
    await env.TENANT_CACHE.delete(DIRECTORY_KEY);
    tenantDirectory.reset();
    const res = await call("http://no-directory-yet.localhost/v1/context");
    expect([res.status, usedDatabase(res)]).toEqual([404, true]);
  });
});
