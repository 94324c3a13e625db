import type { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../../common/errors";
import {
  planNodes,
  rowsReadOf,
  UNREACHABLE_PROXY,
  useWorkerTestDatabase,
  type WorkerTestDb,
  whileUncommitted,
} from "../../test-support/db";
import { expectUnavailableQuickly, requestAs } from "../../test-support/requests";
import worker from "../src/index";
import { listJourneys } from "../src/journeys/queries";

let db: WorkerTestDb;
const A = "a5400000-0000-4000-8000-000000000001";
const B = "a5400000-0000-4000-8000-000000000002";
const ANN = "b5400000-0000-4000-8000-000000000001"; // member of A
const BEN = "b5400000-0000-4000-8000-000000000002"; // member of A
const CAT = "b5400000-0000-4000-8000-000000000003"; // member of B only
const DAN = "b5400000-0000-4000-8000-000000000004"; // admin of A
const MIA = "b5400000-0000-4000-8000-000000000006"; // moderator of A
const B_POST = "c5400000-0000-4000-8000-000000000002";
const A_EVENT = "c5400000-0000-4000-8000-000000000003";
const C = "a5400000-0000-4000-8000-000000000003"; // ANN and BEN, for the merged pages
const ZED = "b5400000-0000-4000-8000-000000000007"; // member of A, with many private journeys

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${A}', 'journeys-a', 'Journeys A'), ('${B}', 'journeys-b', 'Journeys B'),
      ('${C}', 'journeys-c', 'Journeys C');
    INSERT INTO users (id, email) VALUES ('${ANN}', 'ann@journeys.test'), ('${BEN}', 'ben@journeys.test'),
      ('${CAT}', 'cat@journeys.test'), ('${DAN}', 'dan@journeys.test'), ('${MIA}', 'mia@journeys.test');
    INSERT INTO tenant_users (tenant_id, user_id, role) VALUES
      ('${A}', '${ANN}', 'member'), ('${A}', '${BEN}', 'member'), ('${B}', '${CAT}', 'member'), ('${A}', '${DAN}', 'admin'),
      ('${A}', '${MIA}', 'moderator'), ('${C}', '${ANN}', 'member'), ('${C}', '${BEN}', 'member');
    INSERT INTO posts (id, tenant_id, user_id, content) VALUES ('${B_POST}', '${B}', '${CAT}', 'b only');
    INSERT INTO events (id, tenant_id, created_by, title, start_date)
      VALUES ('${A_EVENT}', '${A}', '${BEN}', 'Meetup', now() + interval '1 month');
  `);
});

const call = (method: string, path: string, user: string, body?: unknown, tenant = "journeys-a") =>
  callWith(method, path, user, body, {}, tenant);

const callWith = (
  method: string,
  path: string,
  user: string,
  body: unknown,
  headers: Record<string, string>,
  tenant = "journeys-a",
  bindings: Partial<typeof env> = {},
) =>
  requestAs(
    worker,
    { method, path, who: user, body, host: `${tenant}.localhost`, headers },
    { DATABASE_URL: db.url, ...bindings },
  );

type Journey = { id: string; title: string; is_public: boolean; activities?: { title: string }[] };

async function plan(user: string, body: Record<string, unknown>, tenant?: string): Promise<Journey> {
  const res = await call("POST", "/v1/journeys", user, body, tenant);
  expect(res.status).toBe(201);
  return (await res.json()) as Journey;
}

const errorOf = async (res: Response) => [res.status, ((await res.json()) as ErrorBody).error.code];

const titlesSeenBy = async (user: string, query = "") =>
  ((await (await call("GET", `/v1/journeys${query}`, user)).json()) as { journeys: Journey[] }).journeys.map(
    (j) => j.title,
  );

describe("POST /v1/journeys", () => {
  it("plans a private journey in the resolved community, with the defaults a new one has", async () => {
    const res = await call("POST", "/v1/journeys", ANN, {
      title: "Lisbon",
      locations: [{ name: "Lisbon", lat: 38.72, lng: -9.14 }],
      start_date: "2027-05-01",
      end_date: "2027-05-09",
    });
    expect([res.status, res.headers.get("cache-control")]).toEqual([201, "private, no-store"]);
    expect(await res.json()).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      tenant_id: A,
      user_id: ANN,
      title: "Lisbon",
      description: null,
      status: "planning",
      locations: [{ name: "Lisbon", lat: 38.72, lng: -9.14 }],
      start_date: "2027-05-01",
      end_date: "2027-05-09",
      is_public: false,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });

  it("refuses strangers, fields no one sets, and an end before the start", async () => {
    expect(await errorOf(await call("POST", "/v1/journeys", CAT, { title: "Not mine" }))).toEqual([
      403,
      "forbidden",
    ]);
    for (const extra of [
      { user_id: BEN },
      { tenant_id: B },
      { id: B_POST },
      { created_at: "2020-01-01T00:00:00Z" },
    ]) {
      const res = await call("POST", "/v1/journeys", ANN, { title: "Sneaky", ...extra });
      expect(await errorOf(res)).toEqual([400, "validation_failed"]);
    }
    const backwards = { title: "Backwards", start_date: "2027-05-09", end_date: "2027-05-01" };
    expect(await errorOf(await call("POST", "/v1/journeys", ANN, backwards))).toEqual([
      400,
      "validation_failed",
    ]);
    expect(
      await errorOf(await call("POST", "/v1/journeys", ANN, { title: "Bad day", start_date: "2027-02-30" })),
    ).toEqual([400, "validation_failed"]);
    const count = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM user_journeys WHERE title IN ('Not mine', 'Sneaky', 'Backwards', 'Bad day')",
    );
    expect(count[0]?.n).toBe("0");
  });
});

describe("a retried request (Idempotency-Key)", () => {
  const withKey = (key: string, path: string, body: unknown) =>
    callWith("POST", path, ANN, body, { "idempotency-key": key });

  it("answers the journey or activity the first attempt made, once; a key reused for another request is 422", async () => {
    const first = await withKey("trip-1", "/v1/journeys", { title: "Once" });
    const again = await withKey("trip-1", "/v1/journeys", { title: "Once" });
    const made = (await first.json()) as Journey;
    expect([first.status, again.status, ((await again.json()) as Journey).id]).toEqual([201, 201, made.id]);
    const count = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM user_journeys WHERE title = 'Once'",
    );
    expect(count[0]?.n).toBe("1");
    expect(await errorOf(await withKey("trip-1", "/v1/journeys", { title: "Twice" }))).toEqual([
      422,
      "idempotency_key_reused",
    ]);
    const stop = { activity_type: "visit", title: "Stop", start_datetime: "2027-03-01T10:00:00Z" };
    const path = `/v1/journeys/${made.id}/activities`;
    const a1 = (await (await withKey("stop-1", path, stop)).json()) as { id: string };
    const a2 = await withKey("stop-1", path, stop);
    expect([a2.status, ((await a2.json()) as { id: string }).id]).toEqual([201, a1.id]);
    const stops = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM journey_activities WHERE journey_id = $1",
      [made.id],
    );
    expect(stops[0]?.n).toBe("1");
  });

  it("answers an activity moved to another month since as it now is, and makes no second one", async () => {
    const j = await plan(ANN, { title: "Moved" });
    const stop = { activity_type: "visit", title: "Moving stop", start_datetime: "2027-04-01T10:00:00Z" };
    const path = `/v1/journeys/${j.id}/activities`;
    const made = (await (await withKey("move-1", path, stop)).json()) as { id: string };
    const moved = await call("PATCH", `${path}/${made.id}`, ANN, { start_datetime: "2027-08-01T10:00:00Z" });
    expect(moved.status).toBe(200);
    // The retry of the first request: its start is in April, the row is in August's partition now.
    const again = await withKey("move-1", path, stop);
    expect([again.status, await again.json()]).toEqual([
      201,
      expect.objectContaining({ id: made.id, start_datetime: "2027-08-01T10:00:00+00:00" }),
    ]);
    const rows = await db.query("SELECT start_datetime::text FROM journey_activities WHERE id = $1", [
      made.id,
    ]);
    expect(rows).toHaveLength(1);
    expect((await call("PATCH", `${path}/${made.id}`, ANN, { title: "Still one" })).status).toBe(200);
  });
});

describe("a retry overlapping its first attempt", () => {
  it("is answered 409 with Retry-After while the first is being written, and the next retry gets the journey", async () => {
    const send = () =>
      callWith("POST", "/v1/journeys", ANN, { title: "Overlap" }, { "idempotency-key": "overlap-1" });
    const first = (await (await send()).json()) as Journey;
    // The first attempt made again, uncommitted: as if it were still being written.
    await db.query("DELETE FROM user_journeys WHERE id = $1", [first.id]);
    const overlap = await whileUncommitted(
      db,
      "INSERT INTO user_journeys (id, tenant_id, user_id, title) VALUES ($1, $2, $3, 'Overlap')",
      [first.id, A, ANN],
      send,
    );
    expect([overlap.status, (overlap.body as ErrorBody).error.code]).toEqual([409, "conflict"]);
    const retry = await send();
    expect([retry.status, ((await retry.json()) as Journey).id]).toEqual([201, first.id]);
  });
});

describe("who sees a journey", () => {
  it("shows a private journey to its owner alone, a public one to the community, and neither outside it", async () => {
    const secret = await plan(BEN, { title: "Surprise trip" });
    const open = await plan(BEN, { title: "Group hike", is_public: true });
    expect((await call("GET", `/v1/journeys/${secret.id}`, BEN)).status).toBe(200);
    // Another member: the private one does not exist for them, the public one does.
    expect(await errorOf(await call("GET", `/v1/journeys/${secret.id}`, ANN))).toEqual([404, "not_found"]);
    expect(await (await call("GET", `/v1/journeys/${open.id}`, ANN)).json()).toMatchObject({
      title: "Group hike",
      activities: [],
    });
    expect(await titlesSeenBy(ANN)).toContain("Group hike");
    expect(await titlesSeenBy(ANN)).not.toContain("Surprise trip");
    expect(await titlesSeenBy(BEN)).toEqual(expect.arrayContaining(["Surprise trip", "Group hike"]));
    // Outside the community: 403 to strangers, 404 through another community.
    expect(await errorOf(await call("GET", `/v1/journeys/${open.id}`, CAT))).toEqual([403, "forbidden"]);
    expect(await errorOf(await call("GET", `/v1/journeys/${open.id}`, CAT, undefined, "journeys-b"))).toEqual(
      [404, "not_found"],
    );
    expect(await errorOf(await call("GET", "/v1/journeys", CAT))).toEqual([403, "forbidden"]);
  });

  it("lists newest first in keyset pages, and narrows to one member's or one status", async () => {
    for (const title of ["Page 1", "Page 2", "Page 3"])
      await plan(DAN, { title, is_public: true, status: "active" });
    const first = (await (await call("GET", `/v1/journeys?user_id=${DAN}&limit=2`, ANN)).json()) as {
      journeys: Journey[];
      next_cursor: string;
    };
    expect(first.journeys.map((j) => j.title)).toEqual(["Page 3", "Page 2"]);
    const next = (await (
      await call("GET", `/v1/journeys?user_id=${DAN}&limit=2&cursor=${first.next_cursor}`, ANN)
    ).json()) as { journeys: Journey[]; next_cursor: string | null };
    expect([next.journeys.map((j) => j.title), next.next_cursor]).toEqual([["Page 1"], null]);
    expect(await titlesSeenBy(ANN, "?status=active")).toEqual(["Page 3", "Page 2", "Page 1"]);
    expect(await errorOf(await call("GET", "/v1/journeys?cursor=nonsense", ANN))).toEqual([
      400,
      "invalid_cursor",
    ]);
  });

  it("merges the caller's own private journeys with the community's public ones, newest first, page after page", async () => {
    for (const [who, title, is_public] of [
      [BEN, "mine 1", false],
      [ANN, "open 1", true],
      [BEN, "mine 2", false],
      [ANN, "open 2", true],
      [BEN, "mine 3", false],
      [ANN, "ann's own", false],
    ] as const)
      await plan(who, { title, is_public }, "journeys-c");
    const pages = async (user: string) => {
      const titles: string[] = [];
      let cursor: string | null = "";
      while (cursor !== null) {
        const res = await call(
          "GET",
          `/v1/journeys?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
          user,
          undefined,
          "journeys-c",
        );
        const page = (await res.json()) as { journeys: Journey[]; next_cursor: string | null };
        titles.push(...page.journeys.map((j) => j.title));
        cursor = page.next_cursor;
      }
      return titles;
    };
    expect(await pages(BEN)).toEqual(["mine 3", "open 2", "mine 2", "open 1", "mine 1"]);
    expect(await pages(ANN)).toEqual(["ann's own", "open 2", "open 1"]);
  });

  it("reads a page from the community's public journeys and the caller's own, not every community's", async () => {
    // Many of another member's private journeys here, many public ones in another community:
    // reading past either is what a page must not do.
    await db.query(`INSERT INTO users (id, email) VALUES ('${ZED}', 'zed@journeys.test');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${ZED}');
      INSERT INTO user_journeys (tenant_id, user_id, title) SELECT '${A}', '${ZED}', 'private ' || g FROM generate_series(1, 300) g;
      INSERT INTO user_journeys (tenant_id, user_id, title, is_public)
      SELECT '${B}', '${CAT}', 'elsewhere ' || g, true FROM generate_series(1, 300) g;
      ANALYZE user_journeys`);
    let statement: { text: string; params: unknown[] } | undefined;
    await listJourneys(
      {
        query: async (text: string, params: unknown[] = []) => {
          statement = { text, params };
          return { rows: [] };
        },
      },
      A,
      BEN,
      { limit: 3, filter: {} },
    );
    if (!statement) throw new Error("no statement");
    // Sorts allowed: the old index on is_public alone, with a sort, looked cheapest to the planner.
    const nodes = await planNodes(db, statement.text, statement.params, ["seqscan"]);
    const read = rowsReadOf(nodes, "user_journeys");
    // A page of public ones, and BEN's own journeys (in every community: found by user).
    const [counted] = await db.query<{ own: number }>(
      "SELECT count(*)::int AS own FROM user_journeys WHERE user_id = $1",
      [BEN],
    );
    expect(read).toBeLessThanOrEqual(3 + (counted?.own ?? 0));
  });

  it("narrows to the journeys that meet some days, or go to a place, for members looking for company", async () => {
    const lisbon = { name: "Lisbon", lat: 38.72, lng: -9.14 };
    const porto = { name: "Porto" };
    await plan(BEN, {
      title: "June coast",
      is_public: true,
      start_date: "2031-06-01",
      end_date: "2031-06-20",
      locations: [porto, lisbon],
    });
    await plan(BEN, { title: "July day", is_public: true, start_date: "2031-07-05", locations: [porto] });
    await plan(BEN, { title: "Someday", is_public: true, locations: [lisbon] });
    await plan(
      CAT,
      { title: "B's June", is_public: true, start_date: "2031-06-01", locations: [lisbon] },
      "journeys-b",
    );
    const seen = (query: string) => titlesSeenBy(ANN, `?user_id=${BEN}&${query}`);
    expect(await seen("from=2031-06-15&to=2031-06-30")).toEqual(["June coast"]);
    expect(await seen("from=2031-06-21")).toEqual(["July day"]);
    // A journey with no end lasts its first day.
    expect(await seen("from=2031-07-05&to=2031-07-05")).toEqual(["July day"]);
    expect(await seen("to=2031-06-30")).toEqual(["June coast"]);
    expect(await seen("place=Lisbon")).toEqual(["Someday", "June coast"]);
    expect(await seen("place=Lisbon&from=2031-01-01")).toEqual(["June coast"]);
    // As given, case and all; and only this community's.
    expect(await seen("place=lisbon")).toEqual([]);
    expect(await titlesSeenBy(ANN, "?place=Lisbon&from=2031-06-01&to=2031-06-01")).toEqual(["June coast"]);
    expect(await errorOf(await call("GET", "/v1/journeys?from=2031-06-02&to=2031-06-01", ANN))).toEqual([
      400,
      "validation_failed",
    ]);
    expect(await errorOf(await call("GET", "/v1/journeys?from=June", ANN))).toEqual([
      400,
      "validation_failed",
    ]);
  });

  it("refuses a member removed a moment ago, checked in the statement and not the cache", async () => {
    const EVE = "b5400000-0000-4000-8000-000000000005";
    await db.query(
      `INSERT INTO users (id, email) VALUES ('${EVE}', 'eve@journeys.test');
       INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${EVE}');`,
    );
    expect((await call("GET", "/v1/context", EVE)).status).toBe(200);
    await db.query(`DELETE FROM tenant_users WHERE user_id = '${EVE}'`);
    expect(await errorOf(await call("POST", "/v1/journeys", EVE, { title: "Late" }))).toEqual([
      403,
      "forbidden",
    ]);
    expect(await errorOf(await call("GET", "/v1/journeys", EVE))).toEqual([403, "forbidden"]);
  });
});

describe("without a database", () => {
  it("answers 503 with Retry-After, quickly, to reads and writes (the tenant cached)", async () => {
    await plan(ANN, { title: "Warm the tenant cache" });
    const down = { LOCAL_DB_PROXY: UNREACHABLE_PROXY };
    for (const [method, path, body] of [
      ["GET", "/v1/journeys", undefined],
      ["POST", "/v1/journeys", { title: "Lost?" }],
      ["GET", "/v1/members", undefined],
    ] as const) {
      await expectUnavailableQuickly(path, () => callWith(method, path, ANN, body, {}, "journeys-a", down));
    }
  });
});

describe("changing a journey", () => {
  it("lets its owner change the fields named, and clear one with null", async () => {
    const j = await plan(ANN, { title: "Porto", description: "wine", start_date: "2027-06-01" });
    const res = await call("PATCH", `/v1/journeys/${j.id}`, ANN, {
      description: null,
      status: "completed",
      is_public: true,
    });
    expect([res.status, await res.json()]).toEqual([
      200,
      expect.objectContaining({ title: "Porto", description: null, status: "completed", is_public: true }),
    ]);
  });

  it("refuses other members: 403 for a public journey, 404 for a private one, changing nothing", async () => {
    const open = await plan(ANN, { title: "Open", is_public: true });
    const closed = await plan(ANN, { title: "Closed" });
    expect(await errorOf(await call("PATCH", `/v1/journeys/${open.id}`, DAN, { title: "Mine now" }))).toEqual(
      [403, "forbidden"],
    );
    expect(
      await errorOf(await call("PATCH", `/v1/journeys/${closed.id}`, DAN, { title: "Mine now" })),
    ).toEqual([404, "not_found"]);
    expect(await errorOf(await call("DELETE", `/v1/journeys/${open.id}`, BEN))).toEqual([403, "forbidden"]);
    const titles = await db.query<{ title: string }>(
      "SELECT title FROM user_journeys WHERE id = ANY($1) ORDER BY title",
      [[open.id, closed.id]],
    );
    expect(titles.map((t) => t.title)).toEqual(["Closed", "Open"]);
  });

  it("lets a moderator make another member's public journey private, and change nothing else", async () => {
    const j = await plan(ANN, { title: "Off topic", is_public: true });
    const path = `/v1/journeys/${j.id}`;
    expect(await errorOf(await call("PATCH", path, MIA, { title: "Renamed" }))).toEqual([403, "forbidden"]);
    expect(await errorOf(await call("PATCH", path, MIA, { is_public: false, title: "Renamed" }))).toEqual([
      403,
      "forbidden",
    ]);
    expect(await errorOf(await call("PATCH", path, BEN, { is_public: false }))).toEqual([403, "forbidden"]);
    const hidden = await call("PATCH", path, MIA, { is_public: false });
    expect([hidden.status, await hidden.json()]).toEqual([
      200,
      expect.objectContaining({ title: "Off topic", is_public: false, user_id: ANN }),
    ]);
    // Out of the community's view; its owner keeps it, and nobody but them can make it public.
    expect(await errorOf(await call("GET", path, BEN))).toEqual([404, "not_found"]);
    expect(await errorOf(await call("PATCH", path, MIA, { is_public: true }))).toEqual([404, "not_found"]);
    expect((await call("GET", path, ANN)).status).toBe(200);
    // An admin may do the same.
    const other = await plan(BEN, { title: "Also off topic", is_public: true });
    expect((await call("PATCH", `/v1/journeys/${other.id}`, DAN, { is_public: false })).status).toBe(200);
  });

  it("answers 400 to an edit whose dates end up out of order, counting the date it leaves", async () => {
    const j = await plan(ANN, { title: "Dated", start_date: "2027-07-10", end_date: "2027-07-20" });
    const res = await call("PATCH", `/v1/journeys/${j.id}`, ANN, { end_date: "2027-07-01" });
    const body = (await res.json()) as ErrorBody;
    expect([res.status, body.error.code, body.error.message]).toEqual([
      400,
      "validation_failed",
      expect.stringMatching(/end before it starts/),
    ]);
    expect(await errorOf(await call("PATCH", `/v1/journeys/${j.id}`, ANN, {}))).toEqual([
      400,
      "validation_failed",
    ]);
  });

  it("deletes the owner's journey with its activities", async () => {
    const j = await plan(ANN, { title: "Gone soon" });
    expect(
      (
        await call("POST", `/v1/journeys/${j.id}/activities`, ANN, {
          activity_type: "stay",
          title: "Hotel",
          start_datetime: "2027-08-01T15:00:00Z",
        })
      ).status,
    ).toBe(201);
    expect((await call("DELETE", `/v1/journeys/${j.id}`, ANN)).status).toBe(204);
    const left = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM journey_activities WHERE journey_id = $1",
      [j.id],
    );
    expect(left[0]?.n).toBe("0");
    expect(await errorOf(await call("DELETE", `/v1/journeys/${j.id}`, ANN))).toEqual([404, "not_found"]);
  });
});

describe("a journey's activities", () => {
  const add = (user: string, id: string, body: Record<string, unknown>) =>
    call("POST", `/v1/journeys/${id}/activities`, user, body);

  it("come a page at a time past 2 MB of text, each once, in start order, to whoever may read the journey", async () => {
    const j = await plan(ANN, { title: "Long reads" });
    // 40 activities of 60 KB of text each: 2.4 MB, past one answer's 2 MB.
    await db.query(
      `INSERT INTO journey_activities (journey_id, tenant_id, activity_type, title, description, start_datetime)
       SELECT $1, $2, 'read', 'day ' || g, repeat('€', 20000), '2027-03-01T00:00:00Z'::timestamptz + g * interval '1 day'
         FROM generate_series(1, 40) g`,
      [j.id, A],
    );
    type Page = { activities: { title: string }[] };
    const read = await call("GET", `/v1/journeys/${j.id}`, ANN);
    const whole = (await read.json()) as Page & { activities_next_cursor: string | null };
    expect(whole.activities.length).toBeGreaterThan(1);
    expect(whole.activities.length).toBeLessThan(40);
    const titles = whole.activities.map((a) => a.title);
    let cursor = whole.activities_next_cursor;
    while (cursor !== null) {
      const res = await call("GET", `/v1/journeys/${j.id}/activities?cursor=${cursor}`, ANN);
      expect(res.status).toBe(200);
      const page = (await res.json()) as Page & { next_cursor: string | null };
      titles.push(...page.activities.map((a) => a.title));
      cursor = page.next_cursor;
    }
    expect(titles).toEqual(Array.from({ length: 40 }, (_, i) => `day ${i + 1}`));
    const five = (await (
      await call("GET", `/v1/journeys/${j.id}/activities?limit=5`, ANN)
    ).json()) as Page & {
      next_cursor: string | null;
    };
    expect([five.activities.length, typeof five.next_cursor]).toEqual([5, "string"]);
    // Private: another member learns nothing of it; a stranger is refused.
    expect(await errorOf(await call("GET", `/v1/journeys/${j.id}/activities`, BEN))).toEqual([
      404,
      "not_found",
    ]);
    expect(await errorOf(await call("GET", `/v1/journeys/${j.id}/activities`, CAT))).toEqual([
      403,
      "forbidden",
    ]);
    expect(await errorOf(await call("GET", `/v1/journeys/${j.id}/activities?cursor=nope`, ANN))).toEqual([
      400,
      "invalid_cursor",
    ]);
  });

  it("are added by the owner and read with the journey in start order, a past one too", async () => {
    const j = await plan(ANN, { title: "Memories", is_public: true });
    const later = await add(ANN, j.id, {
      activity_type: "meetup",
      title: "The meetup",
      start_datetime: "2027-09-02T18:00:00+02:00",
      content_reference: { type: "events", id: A_EVENT },
      location: { name: "Café" },
    });
    expect([later.status, await later.json()]).toEqual([
      201,
      expect.objectContaining({
        journey_id: j.id,
        title: "The meetup",
        start_datetime: "2027-09-02T16:00:00+00:00",
        content_reference: { type: "events", id: A_EVENT },
        settings: {},
      }),
    ]);
    // Long before the monthly partitions: it lives in the DEFAULT partition, and reads the same.
    const earlier = await add(ANN, j.id, {
      activity_type: "visit",
      title: "Back in 1999",
      start_datetime: "1999-12-31T23:00:00Z",
    });
    expect(earlier.status).toBe(201);
    const [where] = await db.query<{ part: string }>(
      "SELECT tableoid::regclass::text AS part FROM journey_activities WHERE title = 'Back in 1999'",
    );
    expect(where?.part).toBe("journey_activities_default");
    const read = (await (await call("GET", `/v1/journeys/${j.id}`, BEN)).json()) as Journey;
    expect(read.activities?.map((a) => a.title)).toEqual(["Back in 1999", "The meetup"]);
  });

  it("refuses another member, content of another community, and an end before the start", async () => {
    const j = await plan(ANN, { title: "Mine", is_public: true });
    const valid = { activity_type: "visit", title: "Museum", start_datetime: "2027-10-01T10:00:00Z" };
    expect(await errorOf(await add(BEN, j.id, valid))).toEqual([403, "forbidden"]);
    const foreign = await add(ANN, j.id, {
      ...valid,
      content_reference: { type: "posts", id: B_POST },
    });
    expect(await errorOf(foreign)).toEqual([400, "validation_failed"]);
    expect(await errorOf(await add(ANN, j.id, { ...valid, end_datetime: "2027-10-01T09:00:00Z" }))).toEqual([
      400,
      "validation_failed",
    ]);
    // The event is the community's, but not a post.
    const wrongKind = await add(ANN, j.id, { ...valid, content_reference: { type: "posts", id: A_EVENT } });
    expect(await errorOf(wrongKind)).toEqual([400, "validation_failed"]);
    expect(await errorOf(await add(ANN, j.id, { ...valid, tenant_id: B }))).toEqual([
      400,
      "validation_failed",
    ]);
    const none = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM journey_activities WHERE journey_id = $1",
      [j.id],
    );
    expect(none[0]?.n).toBe("0");
  });

  it("are changed by the owner, a new start moving the row to its month's partition", async () => {
    const j = await plan(ANN, { title: "Rescheduled", is_public: true });
    const made = (await (
      await add(ANN, j.id, {
        activity_type: "visit",
        title: "Museum",
        start_datetime: "2027-04-01T10:00:00Z",
      })
    ).json()) as { id: string };
    const path = `/v1/journeys/${j.id}/activities/${made.id}`;
    const moved = await call("PATCH", path, ANN, {
      start_datetime: "2027-06-15T09:00:00Z",
      end_datetime: "2027-06-15T12:00:00Z",
      content_reference: { type: "events", id: A_EVENT },
    });
    expect([moved.status, await moved.json()]).toEqual([
      200,
      expect.objectContaining({
        id: made.id,
        title: "Museum",
        start_datetime: "2027-06-15T09:00:00+00:00",
        content_reference: { type: "events", id: A_EVENT },
      }),
    ]);
    const [where] = await db.query<{ part: string }>(
      "SELECT tableoid::regclass::text AS part FROM journey_activities WHERE id = $1",
      [made.id],
    );
    expect(where?.part).toBe("journey_activities_p202706");
    // Cleared with null; the other fields stay.
    const cleared = await call("PATCH", path, ANN, { content_reference: null, end_datetime: null });
    expect(await cleared.json()).toMatchObject({
      content_reference: null,
      end_datetime: null,
      title: "Museum",
    });
  });

  it("refuse an edit by another member, one ending before its start, and content of another community", async () => {
    const j = await plan(ANN, { title: "Guarded", is_public: true });
    const made = (await (
      await add(ANN, j.id, {
        activity_type: "visit",
        title: "Gallery",
        start_datetime: "2027-04-01T10:00:00Z",
        end_datetime: "2027-04-01T12:00:00Z",
      })
    ).json()) as { id: string };
    const path = `/v1/journeys/${j.id}/activities/${made.id}`;
    expect(await errorOf(await call("PATCH", path, BEN, { title: "Mine" }))).toEqual([403, "forbidden"]);
    const late = await call("PATCH", path, ANN, { start_datetime: "2027-04-01T13:00:00Z" });
    const body = (await late.json()) as ErrorBody;
    expect([late.status, body.error.message]).toEqual([
      400,
      expect.stringMatching(/cannot end before it starts/),
    ]);
    const foreign = await call("PATCH", path, ANN, { content_reference: { type: "posts", id: B_POST } });
    expect(await errorOf(foreign)).toEqual([400, "validation_failed"]);
    expect(await errorOf(await call("PATCH", path, ANN, {}))).toEqual([400, "validation_failed"]);
    const other = `/v1/journeys/${j.id}/activities/${B_POST}`;
    expect(await errorOf(await call("PATCH", other, ANN, { title: "Nothing" }))).toEqual([404, "not_found"]);
    const [row] = await db.query<{ title: string; start: string }>(
      "SELECT title, to_json(start_datetime) #>> '{}' AS start FROM journey_activities WHERE id = $1",
      [made.id],
    );
    expect(row).toEqual({ title: "Gallery", start: "2027-04-01T10:00:00+00:00" });
  });

  it("stop at the journey's limit with 409, and are deleted one at a time by the owner", async () => {
    const j = await plan(ANN, { title: "Busy" });
    await db.query(
      `INSERT INTO journey_activities (journey_id, tenant_id, activity_type, title, start_datetime)
       SELECT $1, $2, 'visit', 'Stop ' || g, now() + g * interval '1 hour' FROM generate_series(1, 500) g`,
      [j.id, A],
    );
    const valid = { activity_type: "visit", title: "One more", start_datetime: "2027-10-01T10:00:00Z" };
    expect(await errorOf(await add(ANN, j.id, valid))).toEqual([409, "conflict"]);
    const [stop] = await db.query<{ id: string }>(
      "SELECT id FROM journey_activities WHERE journey_id = $1 AND title = 'Stop 1'",
      [j.id],
    );
    const path = `/v1/journeys/${j.id}/activities/${stop?.id}`;
    expect(await errorOf(await call("DELETE", path, BEN))).toEqual([404, "not_found"]);
    expect((await call("DELETE", path, ANN)).status).toBe(204);
    expect(await errorOf(await call("DELETE", path, ANN))).toEqual([404, "not_found"]);
    expect((await add(ANN, j.id, valid)).status).toBe(201);
  });
});
