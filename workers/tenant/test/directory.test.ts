import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { neon } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-http";
import { beforeAll, describe, expect, it } from "vitest";
import * as schema from "../../../db/schema";
import { openHttpDb } from "../../common/db";
import {
  buildDirectory,
  DIRECTORY_KEY,
  type DirectoryMeta,
  directoryItem,
  readDirectory,
} from "../../common/directory";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import worker from "../src/index";
import { tenantCacheFor } from "../src/tenancy/cache";
import { TenantDirectory, tenantDirectory } from "../src/tenancy/directory";

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

async function publishDirectory() {
  // Any admin write rebuilds the directory; the batch worker's cron does too.
  const res = await admin("POST", "/tenants", {
    slug: `admin-made-${crypto.randomUUID().slice(0, 8)}`,
    name: "Admin made",
  });
  expect(res.status).toBe(201);
  expect(await env.TENANT_CACHE.get(DIRECTORY_KEY, "arrayBuffer")).not.toBeNull();
}

describe("active-tenant directory", () => {
  it("answers a flood of 2,000 distinct unknown subdomains with at most 1 query per 100 requests", async () => {
    await publishDirectory();
    let queries = 0;
    for (let i = 0; i < 2_000; i++) {
      const res = await call(`http://flood-${i}-${crypto.randomUUID().slice(0, 6)}.localhost/v1/context`);
      expect(res.status).toBe(404);
      if (usedDatabase(res)) queries++;
    }
    expect(queries).toBeLessThanOrEqual(20);
  });

  it("still resolves every active tenant, by slug and by custom domain (no false negatives)", async () => {
    await publishDirectory();
    for (const g of [1, 10, 57, 200]) {
      expect((await call(`http://known-${g}.localhost/v1/context`)).status).toBe(200);
    }
    expect((await call("http://forum-20.example.test/v1/context")).status).toBe(200);
  });

  it("is loaded from KV by a fresh isolate, and a tenant created by an admin resolves at once", async () => {
    await publishDirectory();
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
    await publishDirectory();
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
    await publishDirectory();
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
    await publishDirectory();
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
    await publishDirectory();
  });

  it("leaves a deactivated tenant out of the directory at once", async () => {
    await publishDirectory();
    const before = (await readDirectory(env.TENANT_CACHE))?.meta.items ?? 0;
    const [known] = await db.query<{ id: string }>("SELECT id FROM tenants WHERE slug = 'known-3'");
    const res = await admin("DELETE", `/tenants/${known?.id}`);
    expect(res.status).toBe(200);
    expect((await readDirectory(env.TENANT_CACHE))?.meta.items).toBe(before - 1);
  });

  it("takes a renamed tenant's new slug and domain into the published directory at once, for every other isolate", async () => {
    const created = await admin("POST", "/tenants", {
      slug: "before-rename",
      name: "Before",
      domain: "before-rename.example.test",
    });
    const { id } = (await created.json()) as { id: string };
    const renamed = await admin("PATCH", `/tenants/${id}`, {
      slug: "after-rename",
      domain: "after-rename.example.test",
    });
    expect(renamed.status).toBe(200);
    // An isolate that has not seen the rename: all it has is the directory in KV.
    const elsewhere = new TenantDirectory(() => Date.now());
    const known = (kind: "slug" | "host", value: string) =>
      elsewhere.mightExist(directoryItem(kind, value), env.TENANT_CACHE, () => {});
    expect([await known("slug", "after-rename"), await known("host", "after-rename.example.test")]).toEqual([
      true,
      true,
    ]);
  });

  it("puts the directory an admin write rebuilt in use in its isolate at once, before the next reload", async () => {
    await publishDirectory();
    tenantDirectory.reset();
    // The isolate loads the directory in KV now, and would not look again for a minute.
    expect((await call("http://not-yet-made.localhost/v1/context")).status).toBe(404);
    await publishDirectory(); // creates a tenant, and rebuilds the directory
    const [made] = await db.query<{ slug: string }>(
      "SELECT slug FROM tenants WHERE slug LIKE 'admin-made-%' ORDER BY created_at DESC LIMIT 1",
    );
    const item = directoryItem("slug", String(made?.slug));
    expect(await tenantDirectory.mightExist(item, env.TENANT_CACHE, () => {})).toBe(true);
  });

  it("looks again within seconds when KV had no directory, so the first one published is used soon", async () => {
    await env.TENANT_CACHE.delete(DIRECTORY_KEY);
    let now = Date.now();
    const directory = new TenantDirectory(() => now);
    const unknown = () =>
      directory.mightExist(directoryItem("slug", "never-made"), env.TENANT_CACHE, () => {});
    expect(await unknown()).toBe(true); // nothing to go by
    await publishDirectory();
    now += 6_000;
    expect(await unknown()).toBe(false);
  });

  it("falls back to the database when KV cannot be read, the directory included", async () => {
    tenantDirectory.reset();
    const down = async () => {
      throw new Error("KV down");
    };
    const kv = { get: down, getWithMetadata: down, put: down, delete: down } as unknown as KVNamespace;
    const unknown = await call("http://kv-down-unknown.localhost/v1/context", {}, { TENANT_CACHE: kv });
    expect([unknown.status, usedDatabase(unknown)]).toEqual([404, true]);
    const known = await call("http://known-7.localhost/v1/context", {}, { TENANT_CACHE: kv });
    expect(known.status).toBe(200);
  });

  it("reads the active tenants a page at a time, every active slug and domain in, no inactive one", async () => {
    await db.query(`
      INSERT INTO tenants (slug, name, domain, is_active)
      VALUES ('gone-1', 'Gone', 'gone-1.example.test', false), ('gone-2', 'Gone', NULL, false)`);
    openHttpDb({ ...env, DATABASE_URL: db.url }); // points the driver at the local proxy
    let statements = 0;
    const counting = drizzle({
      client: neon(db.url),
      schema,
      logger: { logQuery: () => void statements++ },
    });
    const built = await buildDirectory(counting, 7);
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
    expect(statements).toBe(1 + Math.floor(active.length / 7) + 1);
  });

  it("falls back to the database when there is no directory at all", async () => {
    await env.TENANT_CACHE.delete(DIRECTORY_KEY);
    tenantDirectory.reset();
    const res = await call("http://no-directory-yet.localhost/v1/context");
    expect([res.status, usedDatabase(res)]).toEqual([404, true]);
  });
});
