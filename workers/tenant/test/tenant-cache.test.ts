import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { type DbError, openDb } from "../../common/db";
import { err, ok, type Result } from "../../common/result";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { brokenKv } from "../../test-support/kv";
import { loggedLines } from "../../test-support/logs";
import { updateTenant } from "../src/tenancy/admin";
import { cacheOptions, DEFAULT_CACHE_OPTIONS, TenantCache } from "../src/tenancy/cache";
import { Lru } from "../src/tenancy/lru";
import type { TenantRow } from "../src/tenancy/queries";

function row(slug: string, updatedAt = "2026-01-01T00:00:00.000Z", isActive = true): TenantRow {
  return {
    tenant: {
      id: crypto.randomUUID(),
      slug,
      name: slug,
      logo_url: null,
      primary_color: null,
      secondary_color: null,
      domain: null,
      settings: {},
    },
    isActive,
    updatedAt,
  };
}

/** A loader that counts its calls, standing in for the one indexed tenant query. */
function loader(result: () => Result<TenantRow | null, DbError>, delayMs = 10) {
  const counter = { calls: 0 };
  const load = async () => {
    counter.calls++;
    await new Promise((r) => setTimeout(r, delayMs));
    return result();
  };
  return { counter, load };
}

/** One isolate's cache; isolates given one `clock` see the same time pass. */
function harness(options = DEFAULT_CACHE_OPTIONS, clock = { now: Date.now() }) {
  const cache = new TenantCache(options, () => clock.now);
  const pending: Promise<unknown>[] = [];
  return {
    cache,
    clock,
    advance: (ms: number) => {
      clock.now += ms;
    },
    deps: (load: () => Promise<Result<TenantRow | null, DbError>>, kv: KVNamespace = env.TENANT_CACHE) => ({
      kv,
      load,
      waitUntil: (p: Promise<unknown>) => void pending.push(p),
    }),
    settle: () => Promise.all(pending.splice(0)),
  };
}

/** A KV that holds nothing and keeps nothing: an entry that expired, or a KV not in the way. */
const EMPTY_KV = { get: async () => null, put: async () => undefined } as unknown as KVNamespace;

/** The console.warn lines `run` leaves, and what it returns. */
async function warnedDuring<T>(
  run: () => Promise<T>,
): Promise<{ value: T; warned: Record<string, unknown>[] }> {
  const spy = vi.spyOn(console, "warn");
  try {
    const value = await run();
    return { value, warned: loggedLines(spy) };
  } finally {
    spy.mockRestore();
  }
}

/** The test's KV, counting writes; the first `refusals` writes are refused as KV refuses a second write to a key within a second. */
function countingKv(refusals = 0) {
  const counts = { puts: 0, gets: 0 };
  let refuse = refusals;
  const kv = {
    get: (k: string, type: "json") => {
      counts.gets++;
      return env.TENANT_CACHE.get(k, type);
    },
    put: async (k: string, value: string, options?: KVNamespacePutOptions) => {
      counts.puts++;
      if (refuse-- > 0) throw new Error("KV PUT failed: 429 Too Many Requests");
      await env.TENANT_CACHE.put(k, value, options);
    },
  } as unknown as KVNamespace;
  return { kv, counts };
}

/** For the tests that go through the admin write path; the rest stand a loader in for it. */
let db: WorkerTestDb;
beforeAll(async () => {
  db = await useWorkerTestDatabase();
});

const key = (s: string) => `tenant:v1:slug:${s}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A newer version of `older`, renamed "admin edit", as an admin write caches it. */
const adminEdit = (cache: TenantCache, older: TenantRow, version = "2026-03-01T00:00:00.000Z") =>
  cache.entryFor({
    ...row(older.tenant.slug, version),
    tenant: { ...older.tenant, name: "admin edit" },
  });

describe("tenant cache", () => {
  it("answers from the database once, then from L1", async () => {
    const h = harness();
    const { counter, load } = loader(() => ok(row("l1-hit")));
    expect((await h.cache.resolve(key("l1-hit"), h.deps(load))).ok && counter.calls).toBe(1);
    const second = await h.cache.resolve(key("l1-hit"), h.deps(load));
    expect(second).toMatchObject({ ok: true, value: { tier: "l1" } });
    expect(counter.calls).toBe(1);
  });

  it("answers from KV when another isolate already loaded the tenant", async () => {
    const first = harness();
    const { load, counter } = loader(() => ok(row("kv-hit")));
    await first.cache.resolve(key("kv-hit"), first.deps(load));
    await first.settle();
    const other = harness();
    const res = await other.cache.resolve(key("kv-hit"), other.deps(load));
    expect(res).toMatchObject({ ok: true, value: { tier: "kv", tenant: { slug: "kv-hit" } } });
    // And keeps it in its own L1: the next request reads no KV.
    const next = await other.cache.resolve(key("kv-hit"), other.deps(load));
    expect(next).toMatchObject({ ok: true, value: { tier: "l1" } });
    expect(counter.calls).toBe(1);
  });

  it("ignores a KV value of another shape (an older deploy's, or damaged) and loads the tenant", async () => {
    const h = harness();
    // An expiry of ours, but no tenant field: not an entry, however much of one it looks like.
    await env.TENANT_CACHE.put(
      key("odd-shape"),
      JSON.stringify({ id: "x", slug: "odd-shape", softExpiresAt: Date.now() + 60_000 }),
    );
    const { counter, load } = loader(() => ok(row("odd-shape")));
    const res = await h.cache.resolve(key("odd-shape"), h.deps(load));
    expect(res).toMatchObject({ ok: true, value: { tier: "db", tenant: { slug: "odd-shape" } } });
    expect(counter.calls).toBe(1);
  });

  it("keeps a name the directory rules out in L1, so a repeat reads neither KV nor the directory", async () => {
    const h = harness();
    let asked = 0;
    const deps = {
      ...h.deps(loader(() => ok(null)).load),
      mightExist: async () => {
        asked++;
        return false;
      },
    };
    expect(await h.cache.resolve(key("ruled-out"), deps)).toMatchObject({
      ok: true,
      value: { tier: "directory" },
    });
    expect(await h.cache.resolve(key("ruled-out"), deps)).toMatchObject({ ok: true, value: { tier: "l1" } });
    expect(asked).toBe(1);
  });

  it("gives a request that waits on another's load that load's answer, not an earlier load's", async () => {
    const h = harness();
    let up = false;
    const { load } = loader(
      () => (up ? ok(row("second-try")) : err({ kind: "unavailable", message: "down" })),
      30,
    );
    expect((await h.cache.resolve(key("second-try"), h.deps(load))).ok).toBe(false);
    up = true;
    const loading = h.cache.resolve(key("second-try"), h.deps(load));
    await sleep(5);
    const waiting = h.cache.resolve(key("second-try"), h.deps(load));
    for (const res of await Promise.all([loading, waiting])) {
      expect(res).toMatchObject({ ok: true, value: { tenant: { slug: "second-try" } } });
    }
  });

  it("shares one database query among 50 concurrent misses of one key", async () => {
    const h = harness();
    const { counter, load } = loader(() => ok(row("flight")), 30);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => h.cache.resolve(key("flight"), h.deps(load))),
    );
    expect(results.every((r) => r.ok && r.value.tenant?.slug === "flight")).toBe(true);
    expect(counter.calls).toBe(1);
  });

  it("caches unknown tenants, so repeated requests cost one query per negative TTL", async () => {
    const h = harness();
    const { counter, load } = loader(() => ok(null));
    for (let i = 0; i < 20; i++) await h.cache.resolve(key("ghost"), h.deps(load));
    expect(counter.calls).toBe(1);
    h.advance(DEFAULT_CACHE_OPTIONS.negativeTtlSeconds * 1000 + 1);
    // The real KV entry expires on the wall clock, not this test's clock: an empty namespace
    // stands in for it having expired.
    await h.cache.resolve(key("ghost"), h.deps(load, EMPTY_KV));
    expect(counter.calls).toBe(2);
  });

  it("keeps a 'not found' for the negative TTL only, in KV and in an L1 that keeps tenants longer", async () => {
    // KV takes no TTL under 60 s, so the negative TTL is at least that; L1 may be set longer.
    const h = harness({ ...DEFAULT_CACHE_OPTIONS, l1TtlMs: 120_000, softTtlMs: 90_000 });
    const negativeMs = DEFAULT_CACHE_OPTIONS.negativeTtlSeconds * 1000;
    const found = loader(() => ok(row("kept-long")));
    const missing = loader(() => ok(null));
    await h.cache.resolve(key("kept-long"), h.deps(found.load));
    await h.cache.resolve(key("kept-short"), h.deps(missing.load));
    await h.settle();
    // KV's expirations are on the wall clock: compare each with the TTL it was written with.
    const secondsLeft = async (k: string) => {
      const { keys } = await env.TENANT_CACHE.list({ prefix: k });
      expect(keys.map((x) => x.name)).toEqual([k]);
      return (keys[0]?.expiration ?? 0) - Date.now() / 1000;
    };
    expect(await secondsLeft(key("kept-short"))).toBeLessThanOrEqual(negativeMs / 1000);
    expect(await secondsLeft(key("kept-long"))).toBeGreaterThan(DEFAULT_CACHE_OPTIONS.kvTtlSeconds - 5);
    // Past the negative TTL, inside L1's: the name is looked up again (an empty KV stands in for
    // its entry having expired), the tenant is not.
    h.advance(negativeMs + 1);
    const tier = async (name: string, load: typeof found.load) => {
      const resolved = await h.cache.resolve(key(name), h.deps(load, EMPTY_KV));
      return resolved.ok && resolved.value.tier;
    };
    expect([await tier("kept-short", missing.load), await tier("kept-long", found.load)]).toEqual([
      "db",
      "l1",
    ]);
    expect([missing.counter.calls, found.counter.calls]).toEqual([2, 1]);
  });

  it("treats an inactive tenant as not found, without saying which", async () => {
    const h = harness();
    const { load } = loader(() => ok(row("sleepy", undefined, false)));
    const res = await h.cache.resolve(key("sleepy"), h.deps(load));
    expect(res).toEqual({ ok: true, value: { tenant: null, tier: "db" } });
  });

  it("serves a soft-expired entry at once and refreshes it in the background", async () => {
    const h = harness();
    let version = row("swr", "2026-01-01T00:00:00.000Z");
    const { counter, load } = loader(() => ok(version));
    await h.cache.resolve(key("swr"), h.deps(load));
    await h.settle();
    version = { ...row("swr", "2026-02-01T00:00:00.000Z"), tenant: { ...version.tenant, name: "renamed" } };
    h.advance(DEFAULT_CACHE_OPTIONS.softTtlMs + 1);
    const stale = await h.cache.resolve(key("swr"), h.deps(load));
    expect(stale.ok && stale.value.tenant?.name).toBe("swr");
    await h.settle();
    expect(counter.calls).toBe(2);
    const fresh = await h.cache.resolve(key("swr"), h.deps(load));
    expect(fresh).toMatchObject({ ok: true, value: { tier: "l1", tenant: { name: "renamed" } } });
  });

  it("refreshes a soft-expired entry once, however many requests it serves meanwhile", async () => {
    const h = harness({ ...DEFAULT_CACHE_OPTIONS, l1TtlMs: 120_000 });
    const { counter, load } = loader(() => ok(row("swr-once")));
    await h.cache.resolve(key("swr-once"), h.deps(load));
    await h.settle();
    h.advance(DEFAULT_CACHE_OPTIONS.softTtlMs + 1);
    const served = await Promise.all(
      Array.from({ length: 20 }, () => h.cache.resolve(key("swr-once"), h.deps(load))),
    );
    expect(served.every((r) => r.ok && r.value.tier === "l1")).toBe(true);
    await h.settle();
    expect(counter.calls).toBe(2);
  });

  it("takes the entry another isolate's refresh just put in KV, without a query or a KV write of its own", async () => {
    const { kv, counts } = countingKv();
    const { counter, load } = loader(() => ok(row("herd")));
    const b = harness();
    const a = harness(DEFAULT_CACHE_OPTIONS, b.clock);
    await b.cache.resolve(key("herd"), b.deps(load, kv)); // loads, puts the entry in KV
    await b.settle();
    b.advance(DEFAULT_CACHE_OPTIONS.softTtlMs - 10_000);
    await a.cache.resolve(key("herd"), a.deps(load, kv)); // from KV: in a's L1 past the soft expiry
    b.advance(10_001);
    await b.cache.resolve(key("herd"), b.deps(load, kv)); // soft-expired: b refreshes, renews KV
    await b.settle();
    expect([counter.calls, counts.puts]).toEqual([2, 2]);
    const served = await a.cache.resolve(key("herd"), a.deps(load, kv)); // soft-expired in a's L1
    expect(served).toMatchObject({ ok: true, value: { tier: "l1" } });
    await a.settle();
    expect([counter.calls, counts.puts]).toEqual([2, 2]);
    const reads = counts.gets;
    await a.cache.resolve(key("herd"), a.deps(load, kv)); // a holds the renewed entry now, in L1
    await a.settle();
    expect([counter.calls, counts.puts, counts.gets - reads]).toEqual([2, 2, 0]);
  });

  it("does not take a renewed KV entry older than the one it holds: it asks the database", async () => {
    const h = harness({ ...DEFAULT_CACHE_OPTIONS, l1TtlMs: 120_000 });
    const older = row("not-older");
    const edited = adminEdit(h.cache, older);
    await h.cache.put(env.TENANT_CACHE, key("not-older"), edited);
    h.advance(DEFAULT_CACHE_OPTIONS.softTtlMs + 1);
    // What a refresh elsewhere that loaded just before the admin write would leave.
    await h.cache.writeKv(env.TENANT_CACHE, key("not-older"), h.cache.entryFor(older));
    const { counter, load } = loader(() =>
      ok({ ...older, updatedAt: edited.updatedAt ?? "", tenant: edited.tenant ?? older.tenant }),
    );
    await h.cache.resolve(key("not-older"), h.deps(load));
    await h.settle();
    expect(counter.calls).toBe(1);
    const next = await h.cache.resolve(key("not-older"), h.deps(load));
    expect(next).toMatchObject({ ok: true, value: { tier: "l1", tenant: { name: "admin edit" } } });
  });

  it("writes an admin write that KV refused once the second of KV's per-key write limit is over", async () => {
    const h = harness();
    const { kv, counts } = countingKv(1);
    const edited = adminEdit(h.cache, row("refused"));
    await h.cache.put(kv, key("refused"), edited);
    expect(counts.puts).toBe(2);
    expect((await h.cache.readKv(env.TENANT_CACHE, key("refused")))?.tenant?.name).toBe("admin edit");
  });

  it("gives an admin write up after two refused retries, and says so", async () => {
    const h = harness();
    const { kv, counts } = countingKv(3);
    const errors = vi.spyOn(console, "error");
    try {
      await h.cache.put(kv, key("given-up"), adminEdit(h.cache, row("given-up")));
      expect(counts.puts).toBe(3);
      expect(loggedLines(errors)).toMatchObject([
        { msg: expect.stringContaining("tenant cache write failed") },
      ]);
    } finally {
      errors.mockRestore();
    }
  });

  it("never lets a refused admin write's retry undo a later admin write", async () => {
    const first = harness();
    const { kv, counts } = countingKv(1);
    const older = row("undo");
    const edited = adminEdit(first.cache, older);
    const retrying = first.cache.put(kv, key("undo"), edited);
    await sleep(50);
    const later = harness(); // another isolate, writing a newer version meanwhile
    const newest = later.cache.entryFor({
      ...row("undo", "2026-04-01T00:00:00.000Z"),
      tenant: { ...older.tenant, name: "later edit" },
    });
    await later.cache.put(env.TENANT_CACHE, key("undo"), newest);
    await retrying;
    expect(counts.puts).toBe(1);
    expect((await first.cache.readKv(env.TENANT_CACHE, key("undo")))?.tenant?.name).toBe("later edit");
  });

  it.each([
    ["months", "race", "2026-01-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"],
    // As Postgres writes updated_at: Date.parse, which stops at the millisecond, saw no newer one.
    ["microseconds", "race-us", "2026-01-01T00:00:00.123456+00:00", "2026-01-01T00:00:00.123457+00:00"],
  ])(
    "never lets a background refresh overwrite a newer entry written meanwhile, %s newer",
    async (_, slug, was, is) => {
      const h = harness();
      const older = row(slug, was);
      const { load } = loader(() => ok(older), 30);
      await h.cache.resolve(key(slug), h.deps(load));
      await h.settle();
      h.advance(DEFAULT_CACHE_OPTIONS.softTtlMs + 1);
      await h.cache.resolve(key(slug), h.deps(load)); // starts a refresh that will load `older`
      const newer = adminEdit(h.cache, older, is);
      await h.cache.put(env.TENANT_CACHE, key(slug), newer);
      await h.settle();
      const after = await h.cache.resolve(key(slug), h.deps(load));
      expect(after.ok && after.value.tenant?.name).toBe("admin edit");
      const kv = await h.cache.readKv(env.TENANT_CACHE, key(slug));
      expect(kv?.tenant?.name).toBe("admin edit");
    },
  );

  it("answers with an admin write made in this isolate while a miss loaded the older version", async () => {
    const h = harness();
    const older = row("miss-race", "2026-01-01T00:00:00.000Z");
    const { load } = loader(() => ok(older), 40);
    const answer = h.cache.resolve(key("miss-race"), h.deps(load));
    await sleep(15); // past the KV miss, inside the load
    const edited = adminEdit(h.cache, older);
    await h.cache.put(env.TENANT_CACHE, key("miss-race"), edited);
    const first = await answer;
    expect(first.ok && first.value.tenant?.name).toBe("admin edit");
    await h.settle();
    const next = await h.cache.resolve(key("miss-race"), h.deps(load));
    expect(next.ok && next.value.tenant?.name).toBe("admin edit");
    expect((await h.cache.readKv(env.TENANT_CACHE, key("miss-race")))?.tenant?.name).toBe("admin edit");
  });

  it("never puts an older version over an admin write that another isolate made to KV while it loaded", async () => {
    const h = harness();
    const older = row("kv-race", "2026-01-01T00:00:00.000Z");
    const { load } = loader(() => ok(older), 40);
    const answer = h.cache.resolve(key("kv-race"), h.deps(load));
    await sleep(15); // past the KV miss, inside the load
    const admin = harness(); // another isolate: this one's L1 never sees the write
    const edited = adminEdit(admin.cache, older);
    await admin.cache.put(env.TENANT_CACHE, key("kv-race"), edited);
    // The load began before the write, so its own answer may be the older one; nothing after it may.
    await answer;
    await h.settle();
    expect((await h.cache.readKv(env.TENANT_CACHE, key("kv-race")))?.tenant?.name).toBe("admin edit");
    const next = await h.cache.resolve(key("kv-race"), h.deps(load));
    expect(next).toMatchObject({ ok: true, value: { tier: "l1", tenant: { name: "admin edit" } } });
  });

  it("lets the next refresh retire an old name that a load racing a rename put back", async () => {
    const h = harness();
    // What such a load leaves in KV: the tenant as it was, under the name it no longer has.
    const before = h.cache.entryFor(row("old-name", "2026-01-01T00:00:00.000Z"));
    await h.cache.writeKv(env.TENANT_CACHE, key("old-name"), before);
    const { load } = loader(() => ok(null));
    h.advance(DEFAULT_CACHE_OPTIONS.softTtlMs + 1);
    const stale = await h.cache.resolve(key("old-name"), h.deps(load));
    expect(stale.ok && stale.value.tenant?.slug).toBe("old-name");
    await h.settle();
    const after = await h.cache.resolve(key("old-name"), h.deps(load));
    expect(after).toMatchObject({ ok: true, value: { tenant: null } });
    expect((await h.cache.readKv(env.TENANT_CACHE, key("old-name")))?.tenant).toBeNull();
  });

  it("keeps a load that read a tenant just before its rename from bringing the old name back", async () => {
    const [renamed] = await db.query<{ id: string }>(
      "INSERT INTO tenants (slug, name) VALUES ('renamed-away', 'Renamed') RETURNING id",
    );
    const id = renamed?.id ?? "";
    const before = row("renamed-away", "2026-01-01T00:00:00.000Z");
    const h = harness();
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // The load read the row as it was before the rename, and answers only after it.
    const answer = h.cache.resolve(
      key("renamed-away"),
      h.deps(async () => {
        await gate;
        return ok({ ...before, tenant: { ...before.tenant, id } });
      }),
    );
    await sleep(15);
    const handle = openDb({ DATABASE_URL: db.url, LOCAL_DB_PROXY: env.LOCAL_DB_PROXY });
    try {
      const result = await updateTenant(
        handle.db,
        env.TENANT_CACHE,
        h.cache,
        id,
        { slug: "renamed-to" },
        "test",
      );
      expect(result.ok).toBe(true);
    } finally {
      await handle.close();
    }
    release();
    await answer; // its own answer began before the rename
    await h.settle();
    const next = await h.cache.resolve(key("renamed-away"), h.deps(loader(() => ok(null)).load));
    expect(next).toMatchObject({ ok: true, value: { tenant: null } });
    expect((await h.cache.readKv(env.TENANT_CACHE, key("renamed-away")))?.tenant).toBeNull();
  });

  it("renews an entry whose refresh found the same version: the next requests do not query again", async () => {
    const h = harness();
    const { counter, load } = loader(() => ok(row("unchanged", "2026-02-01T00:00:00.000Z")));
    await h.cache.resolve(key("unchanged"), h.deps(load));
    await h.settle();
    h.advance(DEFAULT_CACHE_OPTIONS.softTtlMs + 1);
    await h.cache.resolve(key("unchanged"), h.deps(load)); // served, and refreshed behind
    await h.settle();
    expect(counter.calls).toBe(2);
    for (let i = 0; i < 3; i++) {
      await h.cache.resolve(key("unchanged"), h.deps(load));
      await h.settle();
    }
    expect(counter.calls).toBe(2);
  });

  it("lets a tenant a refresh found replace a 'not found' without a version (the directory's, or an older deploy's)", async () => {
    const h = harness();
    await h.cache.writeKv(env.TENANT_CACHE, key("now-found"), {
      tenant: null,
      updatedAt: null,
      softExpiresAt: 0,
    });
    const { load } = loader(() => ok(row("now-found")));
    const first = await h.cache.resolve(key("now-found"), h.deps(load));
    expect(first).toMatchObject({ ok: true, value: { tier: "kv", tenant: null } });
    await h.settle();
    const next = await h.cache.resolve(key("now-found"), h.deps(load));
    expect(next).toMatchObject({ ok: true, value: { tenant: { slug: "now-found" } } });
    expect((await h.cache.readKv(env.TENANT_CACHE, key("now-found")))?.tenant?.slug).toBe("now-found");
  });

  it.each([
    { slug: "just-born", clock: "the same clock", behindMs: 0 },
    // A 'not found' is versioned 5 s before its lookup began, for a database clock behind ours.
    { slug: "skewed-birth", clock: "a database clock 3 s behind this isolate's", behindMs: 3_000 },
  ])(
    "does not let a 'not found' loaded just before a tenant was created hide it, on $clock",
    async ({ slug, behindMs }) => {
      const h = harness();
      const { load } = loader(() => ok(null), 40);
      const answer = h.cache.resolve(key(slug), h.deps(load));
      await sleep(15);
      const created = h.cache.entryFor(row(slug, new Date(Date.now() - behindMs).toISOString()));
      await h.cache.put(env.TENANT_CACHE, key(slug), created);
      const first = await answer;
      expect(first.ok && first.value.tenant?.slug).toBe(slug);
      await h.settle();
      expect((await h.cache.readKv(env.TENANT_CACHE, key(slug)))?.tenant?.slug).toBe(slug);
    },
  );

  it("falls back to the database when KV fails", async () => {
    const h = harness();
    const broken = brokenKv();
    const { load } = loader(() => ok(row("kv-down")));
    const { value: res, warned } = await warnedDuring(async () => {
      const resolved = await h.cache.resolve(key("kv-down"), h.deps(load, broken));
      await h.settle();
      return resolved;
    });
    expect(res).toMatchObject({ ok: true, value: { tier: "db", tenant: { slug: "kv-down" } } });
    expect(warned.map((l) => [l.msg, l.key, l.error_message])).toEqual(
      expect.arrayContaining([
        ["tenant cache read failed", key("kv-down"), "KV down"],
        ["tenant cache write failed", key("kv-down"), "KV down"],
      ]),
    );
  });

  it("keeps serving a soft-expired entry while its refresh cannot reach the database, and says why", async () => {
    // An L1 that outlives the soft expiry, so the entry is refreshed rather than loaded again.
    const h = harness({ ...DEFAULT_CACHE_OPTIONS, l1TtlMs: 120_000 });
    let up = true;
    const { counter, load } = loader(() =>
      up ? ok(row("refresh-down")) : err({ kind: "unavailable", message: "down" }),
    );
    await h.cache.resolve(key("refresh-down"), h.deps(load, EMPTY_KV));
    await h.settle();
    up = false;
    h.advance(DEFAULT_CACHE_OPTIONS.softTtlMs + 1);
    const { value: served, warned } = await warnedDuring(async () => {
      const resolved = await h.cache.resolve(key("refresh-down"), h.deps(load, EMPTY_KV));
      await h.settle();
      return resolved;
    });
    // Served from L1, past its soft expiry, while the refresh behind it failed.
    expect(served).toMatchObject({ ok: true, value: { tier: "l1", tenant: { slug: "refresh-down" } } });
    expect(counter.calls).toBe(2);
    expect(warned).toContainEqual(
      expect.objectContaining({
        msg: "tenant refresh failed; serving cached entry",
        key: key("refresh-down"),
        kind: "unavailable",
      }),
    );
  });

  it("serves a stale entry when the database is down, and fails without one", async () => {
    const h = harness();
    let up = true;
    const { load } = loader(() => (up ? ok(row("db-down")) : err({ kind: "unavailable", message: "down" })));
    await h.cache.resolve(key("db-down"), h.deps(load, EMPTY_KV));
    up = false;
    h.advance(DEFAULT_CACHE_OPTIONS.l1TtlMs + 1);
    const stale = await h.cache.resolve(key("db-down"), h.deps(load, EMPTY_KV));
    expect(stale).toMatchObject({ ok: true, value: { tier: "stale", tenant: { slug: "db-down" } } });
    const none = await h.cache.resolve(key("never-seen"), h.deps(load, EMPTY_KV));
    expect(none).toEqual({ ok: false, error: { kind: "unavailable", message: "down" } });
  });
});

describe("cache options from the worker's vars", () => {
  it("reads L1 lifetime, size and the negative TTL, keeping defaults for missing or bad values", () => {
    expect(
      cacheOptions({
        TENANT_L1_TTL_SECONDS: "5",
        TENANT_L1_MAX_ENTRIES: "10",
        TENANT_L1_MAX_BYTES: "65536",
        TENANT_NEGATIVE_TTL_SECONDS: "120",
      }),
    ).toMatchObject({
      l1TtlMs: 5_000,
      l1MaxEntries: 10,
      l1MaxBytes: 65_536,
      negativeTtlSeconds: 120,
    });
    expect(cacheOptions({ TENANT_L1_TTL_SECONDS: "soon", TENANT_L1_MAX_ENTRIES: "-1" })).toEqual(
      DEFAULT_CACHE_OPTIONS,
    );
    // A size under one entry is no size: the default, not an L1 that holds nothing.
    expect(cacheOptions({ TENANT_L1_MAX_ENTRIES: "0.5" }).l1MaxEntries).toBe(
      DEFAULT_CACHE_OPTIONS.l1MaxEntries,
    );
    // KV cannot keep anything for less than 60 s.
    expect(cacheOptions({ TENANT_NEGATIVE_TTL_SECONDS: "5" }).negativeTtlSeconds).toBe(60);
    expect(cacheOptions({ TENANT_NEGATIVE_TTL_SECONDS: "90.5" }).negativeTtlSeconds).toBe(91);
    // A longer soft expiry writes KV less often; past half of KV's 600 s, entries would lapse first.
    expect(cacheOptions({ TENANT_SOFT_TTL_SECONDS: "180" }).softTtlMs).toBe(180_000);
    expect(cacheOptions({ TENANT_SOFT_TTL_SECONDS: "3600" }).softTtlMs).toBe(300_000);
  });

  it("says which var it could not read and what it uses instead, once an isolate, not once a read", () => {
    const warn = vi.spyOn(console, "warn");
    try {
      for (let i = 0; i < 3; i++) {
        cacheOptions({
          TENANT_L1_TTL_SECONDS: "30s",
          TENANT_L1_MAX_ENTRIES: "0.25",
          TENANT_L1_MAX_BYTES: "",
        });
      }
      expect(loggedLines(warn)).toEqual([
        expect.objectContaining({
          msg: "var not understood",
          var: "TENANT_L1_TTL_SECONDS",
          value: "30s",
          used: 30,
        }),
        expect.objectContaining({ var: "TENANT_L1_MAX_ENTRIES", value: "0.25", used: 5_000 }),
      ]);
      // Values it reads say nothing, clamped ones included.
      warn.mockClear();
      cacheOptions({
        TENANT_L1_TTL_SECONDS: "5",
        TENANT_NEGATIVE_TTL_SECONDS: "5",
        TENANT_SOFT_TTL_SECONDS: "3600",
      });
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it("writes a tenant in use to KV once per soft expiry, so a longer one writes it less often", async () => {
    const writesOver = async (softTtlSeconds: string) => {
      const h = harness(cacheOptions({ TENANT_SOFT_TTL_SECONDS: softTtlSeconds }));
      const { load } = loader(() => ok(row("busy")));
      const { kv, counts } = countingKv();
      const busy = key(`busy-${softTtlSeconds}`);
      // A request every 10 s for 10 minutes, each waiting for its background refresh.
      for (let t = 0; t < 600; t += 10) {
        await h.cache.resolve(busy, h.deps(load, kv));
        await h.settle();
        h.advance(10_000);
      }
      return counts.puts;
    };
    expect(await writesOver("60")).toBe(10);
    expect(await writesOver("300")).toBe(2);
  });

  it("evicts the least recently used entry when L1 is full", async () => {
    const h = harness({ ...DEFAULT_CACHE_OPTIONS, l1MaxEntries: 2 });
    const { load } = loader(() => ok(row("any")));
    await h.cache.resolve(key("a"), h.deps(load));
    await h.cache.resolve(key("b"), h.deps(load));
    await h.cache.resolve(key("a"), h.deps(load)); // a is now the most recent
    await h.cache.resolve(key("c"), h.deps(load));
    expect(h.cache.l1.size).toBe(2);
    expect(h.cache.l1.peek(key("b"))).toBeUndefined();
    expect(h.cache.l1.peek(key("a"))).toBeDefined();
  });

  it("keeps what L1 holds under its byte bound: tenants with large settings push out the oldest, small ones stay many", async () => {
    const h = harness({ ...DEFAULT_CACHE_OPTIONS, l1MaxBytes: 25_000 });
    const large = (slug: string) => {
      const r = row(slug);
      // 400 keys of text, as a tenant's strings or feature flags would be: ~11 KB of JSON.
      r.tenant.settings = Object.fromEntries(
        Array.from({ length: 400 }, (_, i) => [`key_${i}`, `value ${i} ${slug}`]),
      );
      return r;
    };
    for (const slug of ["big-1", "big-2", "big-3"]) {
      await h.cache.resolve(key(slug), h.deps(loader(() => ok(large(slug))).load));
    }
    expect(h.cache.l1.totalBytes).toBeLessThanOrEqual(25_000);
    expect(h.cache.l1.peek(key("big-1"))).toBeUndefined();
    expect(h.cache.l1.peek(key("big-3"))).toBeDefined();
    for (let i = 0; i < 50; i++) {
      await h.cache.resolve(key(`small-${i}`), h.deps(loader(() => ok(row(`small-${i}`))).load));
    }
    // Fifty small tenants fit where two large ones did: the older large one made room for them.
    for (let i = 0; i < 50; i++) expect(h.cache.l1.peek(key(`small-${i}`))).toBeDefined();
    expect(h.cache.l1.peek(key("big-2"))).toBeUndefined();
    expect(h.cache.l1.totalBytes).toBeLessThanOrEqual(25_000);
  });
});

describe("the in-isolate LRU", () => {
  it("counts sizes through overwrites and deletes, and does not keep a value larger than its bound", () => {
    const lru = new Lru<string>(10, Date.now, 100);
    lru.set("a", "x", 1_000, 60);
    lru.set("a", "y", 1_000, 30);
    expect(lru.totalBytes).toBe(30);
    lru.set("b", "z", 1_000, 60);
    expect([lru.size, lru.totalBytes]).toEqual([2, 90]);
    lru.set("c", "w", 1_000, 20);
    expect([lru.peek("a"), lru.totalBytes]).toEqual([undefined, 80]);
    lru.set("huge", "v", 1_000, 101);
    expect([lru.peek("huge"), lru.totalBytes]).toEqual([undefined, 80]);
    lru.delete("b");
    expect([lru.size, lru.totalBytes]).toEqual([1, 20]);
    lru.clear();
    expect([lru.size, lru.totalBytes]).toEqual([0, 0]);
  });
});

describe("cache tiers", () => {
  it("can be narrowed to KV only, or to none, by TENANT_CACHE_TIERS, and not by a name it does not know", async () => {
    expect(cacheOptions({ TENANT_CACHE_TIERS: "kv" })).toMatchObject({ useL1: false, useKv: true });
    expect(cacheOptions({ TENANT_CACHE_TIERS: "none" })).toMatchObject({ useL1: false, useKv: false });
    // Blank is unset (a `.dev.vars` line left as `TENANT_CACHE_TIERS=" "`), not "no tiers".
    expect(cacheOptions({ TENANT_CACHE_TIERS: " " })).toMatchObject({ useL1: true, useKv: true });
    // A misspelt tier is not a tier turned off: both stay, and the line says why.
    const warn = vi.spyOn(console, "warn");
    try {
      expect(cacheOptions({ TENANT_CACHE_TIERS: "l1;kv" })).toMatchObject({ useL1: true, useKv: true });
      expect(cacheOptions({ TENANT_CACHE_TIERS: "L1, l2" })).toMatchObject({ useL1: true, useKv: true });
      expect(cacheOptions({ TENANT_CACHE_TIERS: "KV" })).toMatchObject({ useL1: false, useKv: true });
      expect(loggedLines(warn).map((l) => [l.var, l.value, l.used])).toEqual([
        ["TENANT_CACHE_TIERS", "l1;kv", "l1,kv"],
        ["TENANT_CACHE_TIERS", "L1, l2", "l1,kv"],
      ]);
    } finally {
      warn.mockRestore();
    }
    const kvOnly = harness({ ...DEFAULT_CACHE_OPTIONS, useL1: false });
    const { counter, load } = loader(() => ok(row("tiers-kv")));
    await kvOnly.cache.resolve(key("tiers-kv"), kvOnly.deps(load));
    await kvOnly.settle();
    expect(await kvOnly.cache.resolve(key("tiers-kv"), kvOnly.deps(load))).toMatchObject({
      ok: true,
      value: { tier: "kv" },
    });
    const none = harness({ ...DEFAULT_CACHE_OPTIONS, useL1: false, useKv: false });
    await none.cache.resolve(key("tiers-kv"), none.deps(load));
    expect(await none.cache.resolve(key("tiers-kv"), none.deps(load))).toMatchObject({
      ok: true,
      value: { tier: "db" },
    });
    expect(counter.calls).toBe(3);
  });
});
