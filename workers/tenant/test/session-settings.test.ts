import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../common/db";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { lockWaitOf } from "../../test-support/postgres";
import { signToken } from "../../test-support/tokens";
import { membershipKey } from "../src/auth/membership";
import worker from "../src/index";

/**
 * Times leave Postgres as text in the session's TimeZone and DateStyle, which a database can
 * default to anything (ALTER DATABASE … SET timezone, or initdb on a machine that is not on UTC).
 * The API answers them in UTC, RFC 3339, whatever the database says. Likewise the transactions,
 * written for READ COMMITTED, run at it whatever isolation the database defaults to.
 */
let db: WorkerTestDb;
const T = "75000000-0000-4000-8000-000000000001";
const USER = "76000000-0000-4000-8000-000000000001";
const POSTS = {
  "77000000-0000-4000-8000-000000000001": "2026-06-01T12:00:00.123456Z",
  // Before 1900 a zone's offset was local mean time: Asia/Kolkata's was +05:53:28.
  "77000000-0000-4000-8000-000000000002": "1890-03-01T00:00:00Z",
};
const EVENT_START = "2099-01-01T10:30:00Z";
const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|\+00:00)$/;

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  const name = databaseName(db.url);
  await db.query(`
    ALTER DATABASE "${name}" SET timezone = 'Asia/Kolkata';
    ALTER DATABASE "${name}" SET datestyle = 'SQL, DMY';
    ALTER DATABASE "${name}" SET default_transaction_isolation = 'serializable';
    INSERT INTO tenants (id, slug, name) VALUES ('${T}', 'tz', 'Time zones');
    INSERT INTO users (id, email) VALUES ('${USER}', 'tz@example.com');
    INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${T}', '${USER}');
    ${Object.entries(POSTS)
      .map(
        ([id, at]) =>
          `INSERT INTO posts (id, tenant_id, user_id, content, created_at) VALUES ('${id}', '${T}', '${USER}', 'at ${at}', '${at}');`,
      )
      .join("\n")}
    INSERT INTO events (id, tenant_id, title, start_date) VALUES ('78000000-0000-4000-8000-000000000001', '${T}', 'Later', '${EVENT_START}');
  `);
});

/** An admin API request, from an address of this file's own (the admin API is rate-limited per address). */
function adminRequest(method: string, path: string, body: unknown): Request {
  return new Request(`http://api.localhost/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${env.ADMIN_TOKEN}`,
      "content-type": "application/json",
      "cf-connecting-ip": "203.0.113.250",
    },
    body: JSON.stringify(body),
  });
}

const databaseName = (url: string) => new URL(url).pathname.slice(1);

async function get(path: string) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://tz.localhost${path}`, {
      headers: { authorization: `Bearer ${await signToken({ sub: USER })}` },
    }),
    { ...env, DATABASE_URL: db.url },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe("times from a database whose default TimeZone and DateStyle are not UTC and ISO", () => {
  it("are answered in UTC, RFC 3339, each the instant stored, and page on", async () => {
    const seen: Record<string, string> = {};
    let cursor: unknown = null;
    do {
      const page = await get(`/v1/feed?type=posts&limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      for (const item of page.items as { id: string; created_at: string }[]) seen[item.id] = item.created_at;
      cursor = page.next_cursor;
    } while (cursor);
    expect(Object.keys(seen).sort()).toEqual(Object.keys(POSTS).sort());
    for (const [id, at] of Object.entries(seen)) {
      expect(at).toMatch(RFC3339_UTC);
      expect(Date.parse(at)).toBe(Date.parse(POSTS[id as keyof typeof POSTS]));
    }
    const events = (await get("/v1/feed?type=events")).items as { start_date: string }[];
    expect(events.map((e) => [RFC3339_UTC.test(e.start_date), Date.parse(e.start_date)])).toEqual([
      [true, Date.parse(EVENT_START)],
    ]);
  });
});

describe("transactions on a database whose default isolation is SERIALIZABLE", () => {
  it("run at READ COMMITTED: an admin's rename that waited on another's goes through", async () => {
    const ctx = createExecutionContext();
    const handle = openDb({ DATABASE_URL: db.url, LOCAL_DB_PROXY: env.LOCAL_DB_PROXY });
    const other = await handle.pool.connect();
    try {
      await other.query("BEGIN");
      await other.query("UPDATE tenants SET name = 'Renamed elsewhere' WHERE id = $1", [T]);
      const renaming = worker.fetch(
        adminRequest("PATCH", `/tenants/${T}`, { slug: "tz-renamed" }),
        { ...env, DATABASE_URL: db.url },
        ctx,
      );
      expect(await lockWaitOf(db.query)).toBe("transactionid");
      await other.query("COMMIT");
      const res = await renaming;
      expect([res.status, ((await res.json()) as { name: string }).name]).toEqual([200, "Renamed elsewhere"]);
    } finally {
      other.release();
      await waitOnExecutionContext(ctx);
      await handle.close();
    }
  });
});

describe("a database that takes no writes (a read replica, or default_transaction_read_only)", () => {
  let readOnly: WorkerTestDb;
  beforeAll(async () => {
    readOnly = await useWorkerTestDatabase();
    await readOnly.query(
      `ALTER DATABASE "${databaseName(readOnly.url)}" SET default_transaction_read_only = on`,
    );
  });

  it("answers an admin write 503 with Retry-After, its state and not the request at fault", async () => {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      adminRequest("PUT", `/users/${USER}`, { email: "read-only@example.com" }),
      { ...env, DATABASE_URL: readOnly.url },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect([
      res.status,
      res.headers.has("retry-after"),
      ((await res.json()) as { error: { code: string } }).error.code,
    ]).toEqual([503, true, "service_unavailable"]);
  });

  it("keeps a cached membership whose change it refused: the change did not happen", async () => {
    const key = membershipKey(T, USER);
    const cached = { member: { role: "member", is_admin: false, email: "cached@example.com" } };
    await env.TENANT_CACHE.put(key, JSON.stringify(cached));
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      adminRequest("PUT", `/tenants/${T}/members/${USER}`, { role: "admin", is_admin: true }),
      { ...env, DATABASE_URL: readOnly.url, MEMBERSHIP_REDELETE_SECONDS: "0.05" },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect([res.status, await env.TENANT_CACHE.get(key, "json")]).toEqual([503, cached]);
  });
});

describe("a database whose lock_timeout gives up on a held row", () => {
  let impatient: WorkerTestDb;
  beforeAll(async () => {
    impatient = await useWorkerTestDatabase();
    await impatient.query(`
      ALTER DATABASE "${databaseName(impatient.url)}" SET lock_timeout = '200ms';
      INSERT INTO tenants (id, slug, name) VALUES ('${T}', 'held', 'Held');
    `);
  });

  it("answers an admin write that waited past it 503 with Retry-After: the row was busy, the request is fine", async () => {
    const handle = openDb({ DATABASE_URL: impatient.url, LOCAL_DB_PROXY: env.LOCAL_DB_PROXY });
    const other = await handle.pool.connect();
    const ctx = createExecutionContext();
    try {
      await other.query("BEGIN");
      await other.query("UPDATE tenants SET name = 'Busy' WHERE id = $1", [T]);
      const res = await worker.fetch(
        adminRequest("PATCH", `/tenants/${T}`, { name: "Waited" }),
        { ...env, DATABASE_URL: impatient.url },
        ctx,
      );
      expect([res.status, res.headers.has("retry-after")]).toEqual([503, true]);
    } finally {
      await other.query("ROLLBACK");
      other.release();
      await waitOnExecutionContext(ctx);
      await handle.close();
    }
  });
});
