import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../../common/errors";
import { planNodes, rowsRead, useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { signToken } from "../../test-support/tokens";
import { INBOX_SQL, inboxParams, MARK_ALL_MAX, MARK_ALL_SQL, UNREAD_COUNT_SQL } from "../src/inbox/queries";
import worker from "../src/index";

let db: WorkerTestDb;
const A = "a6000000-0000-4000-8000-000000000001";
const B = "a6000000-0000-4000-8000-000000000002";
const ALICE = "b6000000-0000-4000-8000-000000000001";
const BOB = "b6000000-0000-4000-8000-000000000002";
const CAROL = "b6000000-0000-4000-8000-000000000003";
const note = (n: number) => `c6000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

interface Inbox {
  notifications: { id: string; tenant_id: string; title: string; is_read: boolean; created_at: string }[];
  next_cursor: string | null;
}

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${A}', 'inbox-a', 'A'), ('${B}', 'inbox-b', 'B');
    INSERT INTO users (id, email) VALUES
      ('${ALICE}', 'alice@inbox.test'), ('${BOB}', 'bob@inbox.test'), ('${CAROL}', 'carol@inbox.test');
  `);
  // As the consumer writes them: alice 5 in A (one read) and 3 in B, an hour apart; bob 2 in A;
  // carol 7 at one instant, as a burst of jobs enqueued in the same microsecond would leave.
  const rows: string[] = [];
  for (let i = 1; i <= 8; i++) {
    rows.push(
      `('${note(i)}', '${ALICE}', '${i <= 5 ? A : B}', 'info', 'alice ${i}', 'm', ${i === 2}, '2026-11-20T00:00:00Z'::timestamptz + interval '${i} hours', gen_random_uuid())`,
    );
  }
  for (let i = 9; i <= 10; i++) {
    rows.push(
      `('${note(i)}', '${BOB}', '${A}', 'info', 'bob ${i}', 'm', false, '2026-11-21T00:00:00Z', gen_random_uuid())`,
    );
  }
  for (let i = 11; i <= 17; i++) {
    rows.push(
      `('${note(i)}', '${CAROL}', '${A}', 'info', 'carol ${i}', 'm', false, '2026-11-22T00:00:00.123456Z', gen_random_uuid())`,
    );
  }
  await db.query(
    `INSERT INTO notifications (id, user_id, tenant_id, type, title, message, is_read, created_at, job_id) VALUES ${rows.join(",")}`,
  );
});

async function call(path: string, user: string | null, init: RequestInit = {}) {
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  if (user) headers.set("authorization", `Bearer ${await signToken({ sub: user })}`);
  const res = await worker.fetch(
    new Request(`http://api.localhost${path}`, { ...init, headers }),
    { ...env, DATABASE_URL: db.url },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const inbox = async (user: string, query = "") => {
  const res = await call(`/v1/notifications${query}`, user);
  expect([query, res.status, res.headers.get("cache-control")]).toEqual([query, 200, "private, no-store"]);
  return (await res.json()) as Inbox;
};

const mark = (user: string, body: unknown) =>
  call("/v1/notifications/read", user, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const markRead = (user: string, ids: string[]) => mark(user, { ids });

describe("GET /v1/notifications", () => {
  it("lists the caller's notifications from every community, newest first, and no one else's", async () => {
    const alice = await inbox(ALICE);
    expect(alice.notifications.map((n) => n.title)).toEqual(
      [8, 7, 6, 5, 4, 3, 2, 1].map((i) => `alice ${i}`),
    );
    expect(alice.notifications[0]).toMatchObject({
      id: note(8),
      tenant_id: B,
      is_read: false,
      created_at: "2026-11-20T08:00:00+00:00",
    });
    expect(alice.next_cursor).toBeNull();
    expect((await inbox(BOB)).notifications.map((n) => n.title)).toEqual(["bob 10", "bob 9"]);
  });

  it("filters by community and by read or unread", async () => {
    expect((await inbox(ALICE, `?tenant_id=${B}`)).notifications.map((n) => n.title)).toEqual([
      "alice 8",
      "alice 7",
      "alice 6",
    ]);
    expect((await inbox(ALICE, "?unread=false")).notifications.map((n) => n.title)).toEqual(["alice 2"]);
    expect((await inbox(ALICE, "?unread=true")).notifications).toHaveLength(7);
  });

  it("pages through notifications of one instant without skipping or repeating one", async () => {
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page: Inbox = await inbox(CAROL, `?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      sizes.push(page.notifications.length);
      seen.push(...page.notifications.map((n) => n.id));
      cursor = page.next_cursor;
    }
    expect(sizes).toEqual([3, 3, 1]);
    expect([...seen].sort()).toEqual([11, 12, 13, 14, 15, 16, 17].map(note));
    expect(seen).toEqual([...seen].sort().reverse()); // ties broken by id, descending
  });

  it("pages through the unread ones alone, newest first, each once", async () => {
    const titles: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page: Inbox = await inbox(ALICE, `?unread=true&limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      titles.push(...page.notifications.map((n) => n.title));
      cursor = page.next_cursor;
    }
    expect(titles).toEqual([8, 7, 6, 5, 4, 3, 1].map((i) => `alice ${i}`)); // 2 is read
  });

  it("needs a token, refuses a cursor it did not give out, and takes an empty one for none", async () => {
    const anonymous = await call("/v1/notifications", null);
    expect([anonymous.status, ((await anonymous.json()) as ErrorBody).error.code]).toEqual([
      401,
      "unauthorized",
    ]);
    const forged = await call("/v1/notifications?cursor=bm9wZQ", ALICE);
    expect([forged.status, ((await forged.json()) as ErrorBody).error.code]).toEqual([400, "invalid_cursor"]);
    // An empty one is none, as the dead-job list and the feed take it: the first page.
    expect(await inbox(ALICE, "?cursor=")).toEqual(await inbox(ALICE));
  });
});

describe("GET /v1/notifications/unread-count", () => {
  const count = async (user: string, query = "") => {
    const res = await call(`/v1/notifications/unread-count${query}`, user);
    expect([query, res.status, res.headers.get("cache-control")]).toEqual([query, 200, "private, no-store"]);
    return res.json();
  };

  it("counts the caller's unread notifications, of every community or one", async () => {
    expect(await count(ALICE)).toEqual({ unread: 7, capped: false });
    expect(await count(ALICE, `?tenant_id=${A}`)).toEqual({ unread: 4, capped: false });
    expect(await count(ALICE, `?tenant_id=${B}`)).toEqual({ unread: 3, capped: false });
    expect(await count(BOB, `?tenant_id=${B}`)).toEqual({ unread: 0, capped: false });
  });

  it("stops at 999 and says there are more, so a badge reads 999+ and no count reads on", async () => {
    const GUS = "b6000000-0000-4000-8000-000000000007";
    const unread = (n: number) => `
      INSERT INTO notifications (user_id, tenant_id, type, title, message, job_id)
      SELECT '${GUS}', '${A}', 'info', 'gus', 'm', gen_random_uuid() FROM generate_series(1, ${n});`;
    await db.query(`INSERT INTO users (id, email) VALUES ('${GUS}', 'gus@inbox.test'); ${unread(999)}`);
    expect(await count(GUS)).toEqual({ unread: 999, capped: false });
    await db.query(unread(1));
    expect(await count(GUS)).toEqual({ unread: 999, capped: true });
  });

  it("needs a token and takes a community id only", async () => {
    const anonymous = await call("/v1/notifications/unread-count", null);
    expect(anonymous.status).toBe(401);
    const bad = await call("/v1/notifications/unread-count?tenant_id=acme", ALICE);
    expect([bad.status, ((await bad.json()) as ErrorBody).error.code]).toEqual([400, "validation_failed"]);
  });
});

describe("the inbox query", () => {
  it("seeks a deep page on the inbox index, reading about a page of rows, not every newer one", async () => {
    const DAVE = "b6000000-0000-4000-8000-000000000004";
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${DAVE}', 'dave@inbox.test');
      INSERT INTO notifications (user_id, tenant_id, type, title, message, created_at, job_id)
      SELECT '${DAVE}', '${A}', 'bulk', 't', 'm', '2026-01-01T00:00:00Z'::timestamptz + make_interval(secs => g),
             gen_random_uuid()
        FROM generate_series(1, 20000) g;
      ANALYZE notifications;
    `);
    const after = { created_at: "2026-01-01T00:10:00+00:00", id: "ffffffff-ffff-4fff-bfff-ffffffffffff" };
    // As the planner chooses, nothing made dear.
    const nodes = await planNodes(db, INBOX_SQL, inboxParams(DAVE, { after, limit: 20 }), []);
    const scan = nodes.find((n) => n["Index Name"] === "idx_notifications_inbox");
    expect(scan?.["Index Cond"]).toMatch(/created_at <=/);
    // A page and the row past it (ties at the cursor's instant aside): 20,000 were there to read.
    expect(scan && rowsRead(scan)).toBeLessThanOrEqual(25);
  });
});

describe("the unread notifications", () => {
  it("are read from their own index, never by walking past the read ones", async () => {
    // Three unread, older than 20,000 read: the inbox index would read all 20,003 to find them.
    const FAY = "b6000000-0000-4000-8000-000000000006";
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${FAY}', 'fay@inbox.test');
      INSERT INTO notifications (user_id, tenant_id, type, title, message, is_read, created_at, job_id)
      SELECT '${FAY}', '${A}', 'bulk', 't', 'm', g > 3, '2026-01-01T00:00:00Z'::timestamptz + make_interval(secs => g),
             gen_random_uuid()
        FROM generate_series(1, 20003) g;
      ANALYZE notifications;
    `);
    const [unread] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM notifications WHERE is_read = false",
    );
    // Which notifications indexes each statement reads, sequential scans made dear as a table this
    // small needs (its update finds the rows it picked by primary key, or among all unread ones as
    // the planner likes), and whether any read more rows than are unread in all.
    const reads = async (text: string, params: unknown[]) => {
      const nodes = await planNodes(db, text, params);
      const scans = nodes.filter(
        (n) =>
          (n["Index Name"] !== undefined && n["Index Name"] !== "notifications_pkey") ||
          (n["Node Type"] === "Seq Scan" && n["Relation Name"] === "notifications"),
      );
      return {
        indexes: [...new Set(scans.map((n) => n["Index Name"] ?? "seq scan"))],
        readNoMoreThanUnread: Math.max(...scans.map(rowsRead)) <= (unread?.n ?? 0),
      };
    };
    const walk = { indexes: ["idx_notifications_unread"], readNoMoreThanUnread: true };
    expect({
      page: await reads(INBOX_SQL, inboxParams(FAY, { unread: true, after: undefined, limit: 20 })),
      count: await reads(UNREAD_COUNT_SQL, [FAY, null, 1000]),
      markAll: await reads(MARK_ALL_SQL, [FAY, null, MARK_ALL_MAX]), // EXPLAIN ANALYZE runs it
    }).toEqual({ page: walk, count: walk, markAll: walk });
    expect((await inbox(FAY, "?unread=true")).notifications).toEqual([]);
  });
});

describe("POST /v1/notifications/read", () => {
  it("marks only the caller's notifications read, and says how many were unread", async () => {
    const first = await markRead(ALICE, [note(1), note(2), note(9)]);
    expect([first.status, await first.json()]).toEqual([200, { marked: 1, more: false }]); // 2 was read, 9 is bob's
    expect(await (await markRead(ALICE, [note(1)])).json()).toEqual({ marked: 0, more: false });
    expect((await inbox(BOB)).notifications.every((n) => !n.is_read)).toBe(true);
    expect((await inbox(ALICE, "?unread=false")).notifications.map((n) => n.title)).toEqual([
      "alice 2",
      "alice 1",
    ]);
  });

  it("marks all of the caller's unread notifications read, or all of one community's", async () => {
    expect(await (await mark(BOB, { all: true, tenant_id: B })).json()).toEqual({ marked: 0, more: false });
    expect(await (await mark(BOB, { all: true, tenant_id: A })).json()).toEqual({ marked: 2, more: false });
    expect(await (await mark(CAROL, { all: true })).json()).toEqual({ marked: 7, more: false });
    expect(await (await mark(CAROL, { all: true })).json()).toEqual({ marked: 0, more: false });
    expect((await inbox(ALICE, "?unread=true")).notifications.length).toBeGreaterThan(0); // no one else's
  });

  it("marks at most 10,000 a call and says when more may be left, so no call runs unbounded", async () => {
    const ERIN = "b6000000-0000-4000-8000-000000000005";
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${ERIN}', 'erin@inbox.test');
      INSERT INTO notifications (user_id, tenant_id, type, title, message, job_id)
      SELECT '${ERIN}', '${A}', 'info', 'erin ' || g, 'm', gen_random_uuid() FROM generate_series(1, 10001) g;`);
    expect(await (await mark(ERIN, { all: true })).json()).toEqual({ marked: 10_000, more: true });
    expect(await (await mark(ERIN, { all: true })).json()).toEqual({ marked: 1, more: false });
  });

  it("takes ids or all, not both or neither, and a tenant_id only with all", async () => {
    for (const [body, message] of [
      [{}, "body: either ids or all"],
      [{ ids: [note(1)], all: true }, "body: either ids or all"],
      [{ ids: [note(1)], tenant_id: A }, "tenant_id: goes with all"],
      [{ all: false }, "all: true, or left out"],
    ] as const) {
      const res = await mark(ALICE, body);
      expect([body, res.status, ((await res.json()) as ErrorBody).error.message]).toEqual([
        body,
        400,
        message,
      ]);
    }
  });

  it("refuses an empty list, more than 100 ids, and ids that are not ids", async () => {
    for (const ids of [[], Array.from({ length: 101 }, (_, i) => note(i)), ["nope"]]) {
      const res = await markRead(ALICE, ids);
      expect([ids.length, res.status, ((await res.json()) as ErrorBody).error.code]).toEqual([
        ids.length,
        400,
        "validation_failed",
      ]);
    }
  });
});
