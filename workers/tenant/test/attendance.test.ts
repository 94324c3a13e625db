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
import { ATTENDEES_SQL } from "../src/attendance/queries";
import worker from "../src/index";

let db: WorkerTestDb;
const A = "a5500000-0000-4000-8000-000000000001";
const B = "a5500000-0000-4000-8000-000000000002";
const user = (n: number) => `b5500000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const event = (n: number) => `c5500000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const [ANN, BEN, CAT, DAN, EVE, FAY] = [1, 2, 3, 4, 5, 6].map(user) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const SOON = event(1); // A's, next month
const OVER = event(2); // A's, ended yesterday
const B_EVENT = event(3); // B's
const DELETED = event(4); // A's, deleted
const STARTED = event(5); // A's, began an hour ago, no end given
const LATER = event(6); // A's, next year

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${A}', 'attend-a', 'Attend A'), ('${B}', 'attend-b', 'Attend B');
    INSERT INTO users (id, email, display_name)
    SELECT ('b5500000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'attend' || g || '@example.com', 'Attendee ' || g
      FROM generate_series(1, 6) g;
    INSERT INTO tenant_users (tenant_id, user_id) VALUES
      ('${A}', '${ANN}'), ('${A}', '${BEN}'), ('${A}', '${DAN}'), ('${A}', '${EVE}'), ('${B}', '${CAT}'),
      ('${A}', '${FAY}'), ('${B}', '${FAY}');
    INSERT INTO events (id, tenant_id, created_by, title, start_date, end_date, deleted_at) VALUES
      ('${SOON}', '${A}', '${ANN}', 'Soon', now() + interval '1 month', now() + interval '1 month 2 hours', NULL),
      ('${OVER}', '${A}', '${ANN}', 'Over', now() - interval '2 days', now() - interval '1 day', NULL),
      ('${B_EVENT}', '${B}', '${CAT}', 'B only', now() + interval '1 month', NULL, NULL),
      ('${DELETED}', '${A}', '${ANN}', 'Gone', now() + interval '1 month', NULL, now()),
      ('${STARTED}', '${A}', '${ANN}', 'Started', now() - interval '1 hour', NULL, NULL),
      ('${LATER}', '${A}', '${ANN}', 'Later', now() + interval '1 year', NULL, NULL);
  `);
});

const call = (
  method: string,
  path: string,
  who: string,
  body?: unknown,
  tenant = "attend-a",
  bindings: Partial<typeof env> = {},
) =>
  requestAs(
    worker,
    { method, path, who, body, host: `${tenant}.localhost` },
    { DATABASE_URL: db.url, ...bindings },
  );

const answer = (who: string, id: string, status: unknown, tenant?: string) =>
  call("PUT", `/v1/events/${id}/attendance`, who, { status }, tenant);
const withdraw = (who: string, id: string) => call("DELETE", `/v1/events/${id}/attendance`, who);

interface Attendees {
  going: number;
  interested: number;
  mine: string | null;
  attendees: { user_id: string; display_name: string | null; status: string; responded_at: string }[];
  next_cursor: string | null;
}
const attendees = async (who: string, id: string, query = "") => {
  const res = await call("GET", `/v1/events/${id}/attendees${query}`, who);
  expect(res.status).toBe(200);
  return (await res.json()) as Attendees;
};

const errorOf = async (res: Response) => [res.status, ((await res.json()) as ErrorBody).error.code];

describe("answering an event", () => {
  it("takes a member's going or interested, replaces it with their next, and shows it to the community", async () => {
    const going = await answer(ANN, SOON, "going");
    const first = (await going.json()) as { responded_at: string };
    expect([going.status, first]).toEqual([
      200,
      { event_id: SOON, user_id: ANN, status: "going", responded_at: expect.any(String) },
    ]);
    // Said again: nothing changes, not even when.
    expect(await (await answer(ANN, SOON, "going")).json()).toEqual(first);
    expect((await answer(BEN, SOON, "going")).status).toBe(200);
    expect((await answer(DAN, SOON, "interested")).status).toBe(200);
    const seen = await attendees(EVE, SOON);
    expect(seen).toEqual({
      going: 2,
      interested: 1,
      mine: null,
      attendees: [
        {
          event_id: SOON,
          user_id: ANN,
          display_name: "Attendee 1",
          status: "going",
          responded_at: first.responded_at,
        },
        expect.objectContaining({ user_id: BEN, status: "going" }),
        expect.objectContaining({ user_id: DAN, status: "interested" }),
      ],
      next_cursor: null,
    });
    const changed = (await (await answer(BEN, SOON, "interested")).json()) as { status: string };
    expect(changed.status).toBe("interested");
    const after = await attendees(BEN, SOON, "?status=interested");
    expect([after.going, after.interested, after.mine, after.attendees.map((a) => a.user_id)]).toEqual([
      1,
      2,
      "interested",
      [BEN, DAN],
    ]);
  });

  it("pages the attendees in user-id order, each once", async () => {
    for (const who of [ANN, BEN, DAN, EVE]) expect((await answer(who, LATER, "going")).status).toBe(200);
    const first = await attendees(ANN, LATER, "?limit=3");
    expect(first.attendees.map((a) => a.user_id)).toEqual([ANN, BEN, DAN]);
    const next = await attendees(ANN, LATER, `?limit=3&cursor=${first.next_cursor}`);
    expect([next.attendees.map((a) => a.user_id), next.next_cursor, next.going]).toEqual([[EVE], null, 4]);
  });

  it("lets a member take their answer back, whether or not they gave one, and after the event too", async () => {
    expect((await answer(EVE, SOON, "going")).status).toBe(200);
    expect((await withdraw(EVE, SOON)).status).toBe(204);
    expect((await withdraw(EVE, SOON)).status).toBe(204);
    expect((await attendees(EVE, SOON)).mine).toBeNull();
    await db.query("INSERT INTO event_attendees (event_id, user_id, status) VALUES ($1, $2, 'going')", [
      OVER,
      EVE,
    ]);
    expect((await withdraw(EVE, OVER)).status).toBe(204);
    expect((await attendees(EVE, OVER)).going).toBe(0);
  });

  it("refuses an event that is over, or began with no end given, and lists who answered it", async () => {
    // BEN answered while it was ahead.
    await db.query("INSERT INTO event_attendees (event_id, user_id, status) VALUES ($1, $2, 'going')", [
      OVER,
      BEN,
    ]);
    for (const id of [OVER, STARTED]) {
      const res = await answer(ANN, id, "going");
      expect([id, ...(await errorOf(res.clone()))]).toEqual([id, 409, "conflict"]);
      expect(((await res.json()) as ErrorBody).error.message).toMatch(/over/);
    }
    // Nor does an answer given before change after.
    expect(await errorOf(await answer(BEN, OVER, "interested"))).toEqual([409, "conflict"]);
    const over = await attendees(ANN, OVER);
    expect([
      over.going,
      over.interested,
      over.mine,
      over.attendees.map((a) => [a.user_id, a.status]),
    ]).toEqual([1, 0, null, [[BEN, "going"]]]);
  });

  it("answers 404 for an event deleted outright while it was being answered", async () => {
    // The answer reads the event, then waits for the deletion to check its foreign key.
    const VANISHING = event(7);
    await db.query(
      `INSERT INTO events (id, tenant_id, created_by, title, start_date) VALUES ('${VANISHING}', '${A}', '${ANN}', 'Vanishing', now() + interval '1 week')`,
    );
    const answered = await whileUncommitted(db, "DELETE FROM events WHERE id = $1", [VANISHING], () =>
      answer(BEN, VANISHING, "going"),
    );
    expect([answered.status, (answered.body as ErrorBody).error.code]).toEqual([404, "not_found"]);
  });

  it("keeps each community's events to its members: 403 for a stranger, 404 for another's event or a deleted one", async () => {
    expect((await answer(CAT, B_EVENT, "going", "attend-b")).status).toBe(200);
    // CAT is no member of A, whether the event is there or not.
    for (const id of [SOON, B_EVENT, event(99)]) {
      expect(await errorOf(await answer(CAT, id, "going"))).toEqual([403, "forbidden"]);
      expect(await errorOf(await call("GET", `/v1/events/${id}/attendees`, CAT))).toEqual([403, "forbidden"]);
    }
    // A's members do not reach B's event through A, nor a deleted event.
    for (const id of [B_EVENT, DELETED, event(99)]) {
      expect(await errorOf(await answer(ANN, id, "going"))).toEqual([404, "not_found"]);
      expect(await errorOf(await withdraw(ANN, id))).toEqual([404, "not_found"]);
      expect(await errorOf(await call("GET", `/v1/events/${id}/attendees`, ANN))).toEqual([404, "not_found"]);
    }
    const answers = await db.query<{ user_id: string }>(
      "SELECT user_id FROM event_attendees WHERE event_id = $1",
      [B_EVENT],
    );
    expect(answers).toEqual([{ user_id: CAT }]);
  });

  it("refuses an answer it does not know, and a field it does not take, with a JSON 400", async () => {
    for (const body of [{ status: "maybe" }, { status: "going", user_id: BEN }, {}, { status: null }]) {
      const res = await call("PUT", `/v1/events/${SOON}/attendance`, ANN, body);
      expect([JSON.stringify(body), ...(await errorOf(res))]).toEqual([
        JSON.stringify(body),
        400,
        "validation_failed",
      ]);
    }
    expect(await errorOf(await call("GET", `/v1/events/${SOON}/attendees?status=maybe`, ANN))).toEqual([
      400,
      "validation_failed",
    ]);
    expect(await errorOf(await call("PATCH", `/v1/events/${SOON}/attendance`, ANN, {}))).toEqual([
      405,
      "method_not_allowed",
    ]);
  });

  it("neither lists nor counts a member who left, and drops an erased user's answers", async () => {
    const id = event(7);
    await db.query(
      `INSERT INTO events (id, tenant_id, title, start_date) VALUES ($1, '${A}', 'Leaving', now() + interval '1 week')`,
      [id],
    );
    for (const who of [ANN, EVE]) expect((await answer(who, id, "going")).status).toBe(200);
    await db.query("DELETE FROM tenant_users WHERE tenant_id = $1 AND user_id = $2", [A, EVE]);
    const left = await attendees(ANN, id);
    expect([left.going, left.attendees.map((a) => a.user_id)]).toEqual([1, [ANN]]);
    await db.query("INSERT INTO tenant_users (tenant_id, user_id) VALUES ($1, $2)", [A, EVE]);
    expect((await attendees(ANN, id)).going).toBe(2);
    await db.query("SELECT private.erase_user($1)", [EVE]);
    expect(
      await db.query("SELECT count(*)::int AS n FROM event_attendees WHERE user_id = $1", [EVE]),
    ).toEqual([{ n: 0 }]);
  });
});

describe("the attendees query", () => {
  it("counts every answer, but reads members' names for the page's rows alone", async () => {
    const big = event(20);
    await db.query(`
      INSERT INTO users (id, email, display_name)
      SELECT ('b5510000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'crowd' || g || '@example.com', 'Crowd ' || g
        FROM generate_series(1, 300) g;
      INSERT INTO tenant_users (tenant_id, user_id)
      SELECT '${A}', ('b5510000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid FROM generate_series(1, 300) g;
      INSERT INTO events (id, tenant_id, title, start_date) VALUES ('${big}', '${A}', 'Crowded', now() + interval '1 week');
      INSERT INTO event_attendees (event_id, user_id, status)
      SELECT '${big}', ('b5510000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
             CASE WHEN g % 3 = 0 THEN 'interested' ELSE 'going' END
        FROM generate_series(1, 300) g;
      ANALYZE users; ANALYZE tenant_users; ANALYZE event_attendees;
    `);
    const page = await attendees(ANN, big, "?limit=10");
    expect([page.going, page.interested, page.attendees.length]).toEqual([200, 100, 10]);
    // Merge joins made dear too: in a table this small one walks users from its first id.
    const nodes = await planNodes(
      db,
      ATTENDEES_SQL,
      [A, ANN, big, null, null, 10],
      ["seqscan", "sort", "mergejoin"],
    );
    const namesRead = rowsReadOf(nodes, "users");
    expect(namesRead).toBe(10); // all 300 were read with their names, and sorted, before
  });
});

describe("an event deleted", () => {
  it("is told cancelled to the members who answered it, but the one deleting it, those who muted that, and never once it is over", async () => {
    const [walk, past] = [event(8), event(9)];
    await db.query(
      `INSERT INTO events (id, tenant_id, created_by, title, start_date, end_date) VALUES
         ($1, '${A}', '${ANN}', 'Walk', now() + interval '1 week', NULL),
         ($2, '${A}', '${ANN}', 'Past', now() - interval '2 days', now() - interval '1 day')`,
      [walk, past],
    );
    for (const who of [ANN, BEN, DAN]) expect((await answer(who, walk, "going")).status).toBe(200);
    await db.query("INSERT INTO event_attendees (event_id, user_id, status) VALUES ($1, $2, 'going')", [
      past,
      BEN,
    ]);
    await db.query(
      `UPDATE tenant_users SET notification_preferences = '{"muted_types": ["event_cancelled"]}' WHERE tenant_id = $1 AND user_id = $2`,
      [A, DAN],
    );
    for (const id of [walk, past]) expect((await call("DELETE", `/v1/events/${id}`, ANN)).status).toBe(204);
    const told = await db.query(
      "SELECT user_id, tenant_id, type, title, message, data->>'event_id' AS event_id FROM notifications WHERE type = 'event_cancelled'",
    );
    expect(told).toEqual([
      {
        user_id: BEN,
        tenant_id: A,
        type: "event_cancelled",
        title: "Walk",
        message: "The event you answered is cancelled",
        event_id: walk,
      },
    ]);
  });
});

describe("GET /v1/me/events", () => {
  it("lists the events the caller answered across their communities, soonest first, until each is over", async () => {
    expect((await answer(FAY, LATER, "going")).status).toBe(200);
    expect((await answer(FAY, B_EVENT, "interested", "attend-b")).status).toBe(200);
    expect((await answer(FAY, SOON, "going")).status).toBe(200);
    // Answers that no longer count: an event over, a deleted one.
    await db.query(
      "INSERT INTO event_attendees (event_id, user_id, status) VALUES ($1, $3, 'going'), ($2, $3, 'going')",
      [OVER, DELETED, FAY],
    );
    const page = async (query = "") => {
      const res = await call("GET", `/v1/me/events${query}`, FAY, undefined, "api");
      expect(res.status).toBe(200);
      return (await res.json()) as {
        events: { id: string; attendance: string; tenant_name: string }[];
        next_cursor: string | null;
      };
    };
    const all = await page();
    // SOON and B_EVENT start at the same instant: id order.
    expect(all.events.map((e) => [e.id, e.attendance, e.tenant_name])).toEqual([
      [SOON, "going", "Attend A"],
      [B_EVENT, "interested", "Attend B"],
      [LATER, "going", "Attend A"],
    ]);
    expect(all.events[0]).toEqual(expect.objectContaining({ title: "Soon", tenant_id: A, created_by: ANN }));
    expect((await page("?status=going")).events.map((e) => e.id)).toEqual([SOON, LATER]);
    const walked: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const one = await page(`?limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      walked.push(...one.events.map((e) => e.id));
      cursor = one.next_cursor;
    }
    expect(walked).toEqual([SOON, B_EVENT, LATER]);
    // A community left takes its events off the list.
    await db.query("DELETE FROM tenant_users WHERE tenant_id = $1 AND user_id = $2", [B, FAY]);
    expect((await page()).events.map((e) => e.id)).toEqual([SOON, LATER]);
    const forged = await call("GET", "/v1/me/events?cursor=bm9wZQ", FAY, undefined, "api");
    expect(await errorOf(forged)).toEqual([400, "invalid_cursor"]);
  });
});

describe("without a database", () => {
  it("answers 503 with Retry-After, quickly", async () => {
    await attendees(ANN, SOON);
    const down = { LOCAL_DB_PROXY: UNREACHABLE_PROXY };
    for (const [method, path, body] of [
      ["PUT", `/v1/events/${SOON}/attendance`, { status: "going" }],
      ["GET", `/v1/events/${SOON}/attendees`, undefined],
      ["GET", "/v1/me/events", undefined],
    ] as const) {
      await expectUnavailableQuickly(path, () => call(method, path, ANN, body, "attend-a", down));
    }
  });
});
