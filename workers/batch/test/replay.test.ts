import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { DENIAL_MESSAGES } from "../../common/authz";
import { openSql, type Queryable } from "../../common/db";
import { endToEndDatabase, eventually } from "../../test-support/db";
import { job } from "../../test-support/jobs";
import { loggedLines } from "../../test-support/logs";
import { awaitRoomInRateLimitWindow } from "../../test-support/rate-limit";
import { replayDeadJobs } from "../src/admin/dead-jobs";
import { JOB_QUEUE_MAX_RETRIES } from "../src/consume/retry";
import worker from "../src/index";

/**
 * Replay sends a dead job to its real local queue, consumed by this worker against the
 * project's end-to-end database: so this file works in that database.
 */
const db = endToEndDatabase();
const T = "a8000000-0000-4000-8000-000000000001";
const U = "b8000000-0000-4000-8000-000000000001";

beforeAll(async () => {
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${T}', 'replay', 'Replay') ON CONFLICT DO NOTHING;
    INSERT INTO users (id, email) VALUES ('${U}', 'replay@example.com') ON CONFLICT DO NOTHING;
    INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${T}', '${U}') ON CONFLICT DO NOTHING;
  `);
});

/** A notification job from a member of the test tenant (U unless said). */
const notification = (title: string, { user = U, message = "m" } = {}) =>
  job("send_notifications", {
    tenant_id: T,
    user_id: user,
    payload: { type: "t", title, message, data: {} },
  });

/** The dead_jobs row recorded for a job: its id, which the admin routes take. */
async function deadJobId(jobId: string): Promise<string> {
  const [row] = await db.query<{ id: string }>("SELECT id FROM dead_jobs WHERE job_id = $1", [jobId]);
  if (!row) throw new Error(`no dead job recorded for ${jobId}`);
  return row.id;
}

let calls = 0;

/**
 * Admin routes are rate-limited per client IP (60 a minute): each call comes from the next of
 * 250 addresses, so this file's calls never reach the limit, which has a test of its own.
 */
async function admin(
  method: string,
  path: string,
  token = env.ADMIN_TOKEN,
  ip = `203.0.113.${(calls++ % 250) + 1}`,
  bindings: Partial<typeof env> = {},
) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://batch.local${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": ip },
    }),
    { ...env, ...bindings },
    ctx,
  );
  return res;
}

/** Delivers the bodies to the dead-letter queue's consumer, in one batch. */
async function deadLetter(...bodies: unknown[]) {
  const batch = createMessageBatch(
    "jobs-dead-letter",
    bodies.map((body) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  await getQueueResult(batch, ctx);
}

const notifications = async (jobId: string) =>
  Number(
    (await db.query<{ n: string }>("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [jobId]))[0]
      ?.n,
  );

describe("dead jobs admin", () => {
  it("lists a job that exhausted its retries, and replaying it (twice) writes it once", async () => {
    const lost = notification("Lost", { message: "found again" });
    await deadLetter(lost);
    const list = await admin("GET", "/admin/dead-jobs?kind=exhausted");
    expect(list.status).toBe(200);
    expect(list.headers.get("cache-control")).toBe("no-store"); // payloads hold users' data
    const { items } = (await list.json()) as { items: { id: string; job_id: string; kind: string }[] };
    const dead = items.find((i) => i.job_id === lost.job_id);
    expect(dead?.kind).toBe("exhausted");

    // The operator can read the whole stored job before replaying it.
    const one = await admin("GET", `/admin/dead-jobs/${dead?.id.toUpperCase()}`);
    expect([one.status, one.headers.get("cache-control")]).toEqual([200, "no-store"]);
    expect(await one.json()).toMatchObject({ id: dead?.id, kind: "exhausted", message: lost });
    expect((await admin("GET", "/admin/dead-jobs/a9999999-0000-4000-8000-000000000000")).status).toBe(404);
    expect((await admin("GET", "/admin/dead-jobs/nope")).status).toBe(400);

    const replay = await admin("POST", `/admin/dead-jobs/${dead?.id}/replay`);
    expect(replay.status).toBe(202);
    await eventually(async () => (await notifications(lost.job_id)) === 1);
    expect((await admin("POST", `/admin/dead-jobs/${dead?.id}/replay`)).status).toBe(202);
    await new Promise((r) => setTimeout(r, 3_000)); // the second replay is consumed too
    expect(await notifications(lost.job_id)).toBe(1);
    const [row] = await db.query<{ replay_count: number }>(
      "SELECT replay_count FROM dead_jobs WHERE id = $1",
      [dead?.id],
    );
    expect(row?.replay_count).toBe(2);
  });

  it("discards a dead job an operator will not replay: it is gone, and a second discard or a replay is 404", async () => {
    const unwanted = notification("Unwanted");
    await deadLetter(unwanted);
    const id = await deadJobId(unwanted.job_id);
    const gone = await admin("DELETE", `/admin/dead-jobs/${id}`);
    expect([gone.status, gone.headers.get("cache-control")]).toEqual([200, "no-store"]);
    expect(await gone.json()).toMatchObject({ id, job_id: unwanted.job_id, kind: "exhausted" });
    expect(await db.query("SELECT id FROM dead_jobs WHERE job_id = $1", [unwanted.job_id])).toEqual([]);
    for (const [method, path] of [
      ["DELETE", `/admin/dead-jobs/${id}`],
      ["POST", `/admin/dead-jobs/${id}/replay`],
    ] as const) {
      expect((await admin(method, path)).status).toBe(404);
    }
    expect(await notifications(unwanted.job_id)).toBe(0);
  });

  it("discards in bulk the oldest dead jobs of a kind that died before a given instant, until none are left", async () => {
    // Dead long ago, so no other test's jobs are in reach.
    const ids = await db.query<{ id: string; kind: string }>(`
      INSERT INTO dead_jobs (job_id, queue, kind, message, error, created_at)
      SELECT gen_random_uuid(), 'notifications', k, '{}', 'e', ('2001-01-0' || n || 'T00:00:00Z')::timestamptz
        FROM unnest(ARRAY['exhausted', 'exhausted', 'exhausted', 'exhausted', 'rejected']) WITH ORDINALITY AS x(k, n)
      RETURNING id, kind`);
    // Of another queue: the calls below that name a queue leave it.
    const [other] = await db.query<{ id: string }>(`
      INSERT INTO dead_jobs (job_id, queue, kind, message, error, created_at)
      VALUES (gen_random_uuid(), 'analytics', 'exhausted', '{}', 'e', '2001-01-05T00:00:00Z') RETURNING id`);
    const discard = async (query: string) => {
      const res = await admin("POST", `/admin/dead-jobs/discard?${query}`);
      return [res.status, await res.json()];
    };
    // Before the instant, not at it: the job that died at 2001-01-02T00:00:00Z stays.
    expect(await discard("kind=exhausted&before=2001-01-02T00:00:00Z")).toEqual([
      200,
      { discarded: 1, more: false },
    ]);
    const query = "kind=exhausted&queue=notifications&before=2001-02-01T00:00:00Z";
    expect(await discard(`${query}&limit=2`)).toEqual([200, { discarded: 2, more: true }]);
    // Oldest first: what is left for the next call is the newest of them, alone.
    const leftExhausted = await db.query<{ day: string }>(
      "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM dead_jobs WHERE id = ANY($1) AND kind = 'exhausted'",
      [ids.map((r) => r.id)],
    );
    expect(leftExhausted.map((r) => r.day)).toEqual(["2001-01-04"]);
    expect(await discard(`${query}&limit=2`)).toEqual([200, { discarded: 1, more: false }]);
    const left = await db.query<{ kind: string; queue: string }>(
      "SELECT kind, queue FROM dead_jobs WHERE id = ANY($1) ORDER BY kind",
      [[...ids.map((r) => r.id), other?.id]],
    );
    expect(left).toEqual([
      { kind: "exhausted", queue: "analytics" },
      { kind: "rejected", queue: "notifications" },
    ]);
    // Without the bound, with a kind of nothing, or with a time Postgres has not, it is refused.
    for (const bad of [
      "kind=exhausted",
      "before=2001-02-01T00:00:00Z",
      "kind=lost&before=2001-02-01T00:00:00Z",
      "kind=exhausted&before=0000-01-01T00:00:00Z",
      "kind=exhausted&before=2030-01-01T00:00:00%2B23:00",
    ]) {
      expect((await discard(bad))[0]).toBe(400);
    }
  });

  it("pages the list with a cursor", async () => {
    for (let i = 0; i < 3; i++)
      await deadLetter(
        job("record_analytics", { tenant_id: T, user_id: U, payload: { event_type: "p", properties: {} } }),
      );
    const first = (await (await admin("GET", "/admin/dead-jobs?limit=2")).json()) as {
      items: { id: string }[];
      next_cursor: string;
    };
    expect(first.next_cursor).toMatch(/^[A-Za-z0-9_-]+$/); // safe in a URL as it is
    const second = (await (
      await admin("GET", `/admin/dead-jobs?limit=2&cursor=${first.next_cursor}`)
    ).json()) as {
      items: { id: string }[];
    };
    expect(first.items).toHaveLength(2);
    expect(second.items.some((i) => first.items.some((f) => f.id === i.id))).toBe(false);
    const cursorOf = (keys: unknown) => Buffer.from(JSON.stringify(keys)).toString("base64url");
    for (const forged of [
      "bm90LWEtY3Vyc29y",
      // Well-formed, but a time Postgres has not: the client's error, not a 503.
      cursorOf({ created_at: "0000-01-01T00:00:00Z", id: crypto.randomUUID() }),
    ]) {
      const res = await admin("GET", `/admin/dead-jobs?cursor=${forged}`);
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([
        400,
        "invalid_cursor",
      ]);
    }
  });

  it("lists one user's dead jobs, each naming its user", async () => {
    const OTHER = "b8000000-0000-4000-8000-000000000002";
    await db.query(
      `INSERT INTO users (id, email) VALUES ('${OTHER}', 'replay-other@example.com') ON CONFLICT DO NOTHING`,
    );
    const mine = notification("Mine", { user: OTHER });
    const theirs = notification("Theirs");
    await deadLetter(mine);
    await deadLetter(theirs);
    const list = async (user: string) =>
      (
        (await (await admin("GET", `/admin/dead-jobs?user_id=${user}`)).json()) as {
          items: { job_id: string; user_id: string }[];
        }
      ).items;
    const others = await list(OTHER.toUpperCase());
    expect(others.map((i) => [i.job_id, i.user_id])).toEqual([[mine.job_id, OTHER]]);
    const ours = await list(U);
    expect(ours.every((i) => i.user_id === U)).toBe(true);
    expect(ours.some((i) => i.job_id === theirs.job_id)).toBe(true);
  });

  it("lists one queue's dead jobs, and the pending or the replayed ones, as counts splits them", async () => {
    const analytics = job("record_analytics", {
      tenant_id: T,
      user_id: U,
      payload: { event_type: "by-queue", properties: {} },
    });
    const replayed = notification("Replayed");
    await deadLetter(analytics);
    await deadLetter(replayed);
    const id = await deadJobId(replayed.job_id);
    expect((await admin("POST", `/admin/dead-jobs/${id}/replay`)).status).toBe(202);

    const list = async (query: string) => {
      const res = await admin("GET", `/admin/dead-jobs?limit=200&${query}`);
      expect(res.status).toBe(200);
      return (
        (await res.json()) as { items: { job_id: string; queue: string; replayed_at: string | null }[] }
      ).items;
    };
    const byQueue = await list("queue=analytics");
    expect(byQueue.every((i) => i.queue === "analytics")).toBe(true);
    expect(byQueue.map((i) => i.job_id)).toContain(analytics.job_id);
    // The kind filter too: the analytics job died of exhausted retries, so no invalid list holds it.
    expect((await list("kind=exhausted")).map((i) => i.job_id)).toContain(analytics.job_id);
    expect((await list("kind=invalid")).map((i) => i.job_id)).not.toContain(analytics.job_id);
    const pending = await list("pending=true");
    expect(pending.every((i) => i.replayed_at === null)).toBe(true);
    expect(pending.map((i) => i.job_id)).not.toContain(replayed.job_id);
    const done = await list("pending=false&queue=notifications");
    expect(done.every((i) => i.replayed_at !== null && i.queue === "notifications")).toBe(true);
    expect(done.map((i) => i.job_id)).toContain(replayed.job_id);

    for (const query of ["queue=bogus", "pending=yes"]) {
      const res = await admin("GET", `/admin/dead-jobs?${query}`);
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([
        400,
        "validation_failed",
      ]);
    }
  });

  it("gives the last page no cursor, also when it is exactly full", async () => {
    await deadLetter(
      job("record_analytics", { tenant_id: T, user_id: U, payload: { event_type: "p", properties: {} } }),
    );
    const [{ n } = { n: 0 }] = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM dead_jobs");
    const page = (await (await admin("GET", `/admin/dead-jobs?limit=${n}`)).json()) as {
      items: unknown[];
      next_cursor: string | null;
    };
    expect([page.items.length, page.next_cursor]).toEqual([n, null]);
  });

  it("pages through jobs dead-lettered in one batch (one timestamp) without skipping any", async () => {
    const jobs = Array.from({ length: 5 }, () =>
      job("record_analytics", {
        tenant_id: T,
        user_id: U,
        payload: { event_type: "same-ms", properties: {} },
      }),
    );
    await deadLetter(...jobs);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (
        await admin("GET", `/admin/dead-jobs?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)
      ).json()) as { items: { job_id: string }[]; next_cursor: string | null };
      seen.push(...page.items.map((i) => i.job_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    for (const j of jobs) expect(seen).toContain(j.job_id);
  });

  it("refuses without the admin token, 404s an unknown id, and 409s a message that is not a job", async () => {
    expect((await admin("GET", "/admin/dead-jobs", "wrong")).status).toBe(403);
    expect((await admin("POST", `/admin/dead-jobs/${crypto.randomUUID()}/replay`)).status).toBe(404);
    await deadLetter({ job_id: "a8000000-0000-4000-8000-0000000000ff", queue: "notification", junk: true });
    const id = await deadJobId("a8000000-0000-4000-8000-0000000000ff");
    const res = await admin("POST", `/admin/dead-jobs/${id}/replay`);
    expect(res.status).toBe(409);
  });
});

describe("a replayed job that is refused", () => {
  /**
   * The dead job (exhausted) of a member's analytics event, whose sender then leaves the
   * community: its replay is refused.
   */
  async function deadJobOfLeaver(user: string, eventType: string): Promise<string> {
    await db.query(
      `INSERT INTO users (id, email) VALUES ('${user}', '${user}@example.com') ON CONFLICT DO NOTHING;
       INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${T}', '${user}') ON CONFLICT DO NOTHING;`,
    );
    const lost = job("record_analytics", {
      tenant_id: T,
      user_id: user,
      payload: { event_type: eventType, properties: {} },
    });
    await deadLetter(lost);
    await db.query(`DELETE FROM tenant_users WHERE tenant_id = '${T}' AND user_id = '${user}'`);
    return deadJobId(lost.job_id);
  }

  it("is on record as rejected, with the reason, since its new death, and pending again", async () => {
    const id = await deadJobOfLeaver("b8000000-0000-4000-8000-000000000002", "left.meanwhile");
    // It died long ago: the retention counts from its death on record.
    await db.query("UPDATE dead_jobs SET created_at = now() - interval '40 days' WHERE id = $1", [id]);
    const [first] = await db.query<{ attempts: number }>("SELECT attempts FROM dead_jobs WHERE id = $1", [
      id,
    ]);
    expect((await admin("POST", `/admin/dead-jobs/${id}/replay`)).status).toBe(202);
    await eventually(async () => {
      const [now] = await db.query<{ kind: string }>("SELECT kind FROM dead_jobs WHERE id = $1", [id]);
      return now?.kind === "rejected";
    });
    const [now] = await db.query<{
      error: string;
      replayed_at: string | null;
      replay_count: number;
      recent: boolean;
      attempts: number;
    }>(
      "SELECT error, replayed_at, replay_count, created_at > now() - interval '1 minute' AS recent, attempts FROM dead_jobs WHERE id = $1",
      [id],
    );
    expect(now).toMatchObject({
      error: DENIAL_MESSAGES.not_member,
      replayed_at: null,
      replay_count: 1,
      recent: true,
    });
    // Its deliveries before the replay still count: an operator sees every try it had, its
    // queue's before it was exhausted and the one delivery after the replay that refused it.
    expect([first?.attempts, now?.attempts]).toEqual([JOB_QUEUE_MAX_RETRIES + 1, JOB_QUEUE_MAX_RETRIES + 2]);
  });

  it("before its replay is marked stays on record as refused again and pending: the mark counts the replay but does not hide that death", async () => {
    const id = await deadJobOfLeaver("b8000000-0000-4000-8000-000000000003", "raced.the.mark");
    // A queue whose consumer runs the job, and refuses it, before the send returns: the
    // refusal's record lands before the replay's mark, as a fast consumer's can.
    const racing = {
      send: async (body: unknown) => {
        const batch = createMessageBatch("analytics", [
          { id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body },
        ]);
        const ctx = createExecutionContext();
        await worker.queue(batch, env, ctx);
        await getQueueResult(batch, ctx);
      },
    } as unknown as Queue;
    const res = await admin("POST", `/admin/dead-jobs/${id}/replay`, env.ADMIN_TOKEN, undefined, {
      ANALYTICS_QUEUE: racing,
    });
    expect(res.status).toBe(202);
    const [row] = await db.query<{
      kind: string;
      error: string;
      replayed_at: string | null;
      replay_count: number;
    }>("SELECT kind, error, replayed_at, replay_count FROM dead_jobs WHERE id = $1", [id]);
    expect(row).toEqual({
      kind: "rejected",
      error: DENIAL_MESSAGES.not_member,
      replayed_at: null,
      replay_count: 1,
    });
  });
});

describe("bulk replay after an outage", () => {
  type Bulk = {
    replayed: { id: string; job_id: string; queue: string }[];
    not_replayable: string[];
    more: boolean;
  };
  /** Every pending dead job of a kind, page by page, as an operator's loop would. */
  async function replayAll(query = "kind=exhausted&limit=2"): Promise<Bulk> {
    const all: Bulk = { replayed: [], not_replayable: [], more: false };
    for (;;) {
      const res = await admin("POST", `/admin/dead-jobs/replay?${query}`);
      expect(res.status).toBe(202);
      const page = (await res.json()) as Bulk;
      all.replayed.push(...page.replayed);
      all.not_replayable.push(...page.not_replayable);
      if (!page.more) return all;
    }
  }

  it("sends every pending exhausted job back to its queue once, each written once, and only pending ones", async () => {
    const lost = [1, 2, 3].map((n) => notification(`Outage ${n}`, { message: "back" }));
    const event = job("record_analytics", {
      tenant_id: T,
      user_id: U,
      payload: { event_type: "outage.back", properties: {} },
    });
    for (const j of [...lost, event]) await deadLetter(j);

    const first = await replayAll();
    const ids = first.replayed.map((r) => r.job_id);
    for (const j of [...lost, event]) expect(ids.filter((id) => id === j.job_id)).toHaveLength(1);
    expect(first.replayed.find((r) => r.job_id === event.job_id)?.queue).toBe("analytics");
    for (const j of lost) await eventually(async () => (await notifications(j.job_id)) === 1);

    // Replayed jobs are not pending any more; one that dies again is.
    const [again] = lost;
    if (!again) throw new Error("no job");
    await deadLetter(again);
    const second = await replayAll();
    expect(second.replayed.map((r) => r.job_id)).toEqual(expect.arrayContaining([again.job_id]));
    for (const j of [...lost.slice(1), event]) {
      expect(second.replayed.map((r) => r.job_id)).not.toContain(j.job_id);
    }
    await new Promise((r) => setTimeout(r, 2_000)); // the second replay is consumed too
    expect(await notifications(again.job_id)).toBe(1);
  });

  it("replays one queue's pending jobs when a queue is named, leaving the others pending", async () => {
    const lost = notification("Queue filter", { message: "later" });
    const event = job("record_analytics", {
      tenant_id: T,
      user_id: U,
      payload: { event_type: "outage.one-queue", properties: {} },
    });
    for (const j of [lost, event]) await deadLetter(j);
    const analyticsOnly = await replayAll("kind=exhausted&queue=analytics&limit=2");
    expect(analyticsOnly.replayed.map((r) => r.queue)).not.toContain("notifications");
    expect(analyticsOnly.replayed.map((r) => r.job_id)).toContain(event.job_id);
    expect((await replayAll()).replayed.map((r) => r.job_id)).toEqual(expect.arrayContaining([lost.job_id]));
  });

  /** A stored message that is no valid job any more (its operation is gone), and a valid job beside it. */
  async function deadLetterBrokenAndFine(tag: string) {
    const broken = { job_id: crypto.randomUUID(), queue: "notification", operation: "no_such_operation" };
    const fine = job("record_analytics", {
      tenant_id: T,
      user_id: U,
      payload: { event_type: `beside.${tag}`, properties: {} },
    });
    await deadLetter(broken);
    await deadLetter(fine);
    return { broken, fine };
  }

  it("reports a stored message that is no valid job any more, keeps it as invalid, and replays the rest", async () => {
    const { broken, fine } = await deadLetterBrokenAndFine("reported");
    const id = await deadJobId(broken.job_id);
    const bulk = await replayAll("kind=exhausted&limit=100");
    expect(bulk.not_replayable).toContain(id);
    expect(bulk.replayed.map((r) => r.job_id)).toContain(fine.job_id);
    // Kept as invalid, so later calls walk past it instead of stopping on it.
    const [now] = await db.query<{ kind: string }>("SELECT kind FROM dead_jobs WHERE id = $1", [id]);
    expect(now?.kind).toBe("invalid");
    expect((await replayAll("kind=exhausted&limit=100")).not_replayable).not.toContain(id);
  });

  it("answers an error, marking nothing replayed or invalid, when a stored message that is no job cannot be set aside", async () => {
    const { broken, fine } = await deadLetterBrokenAndFine("stuck");
    // Moving a row to invalid fails now; rows already there are left alone (NOT VALID).
    await db.query(
      "ALTER TABLE dead_jobs ADD CONSTRAINT test_no_invalid CHECK (kind <> 'invalid') NOT VALID",
    );
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const res = await admin("POST", "/admin/dead-jobs/replay?kind=exhausted&limit=100");
      expect(res.status).toBe(500);
    } finally {
      errors.mockRestore();
      await db.query("ALTER TABLE dead_jobs DROP CONSTRAINT test_no_invalid");
    }
    const rows = await db.query<{ job_id: string; kind: string; replayed_at: string | null }>(
      "SELECT job_id, kind, replayed_at FROM dead_jobs WHERE job_id = ANY($1) ORDER BY kind",
      [[broken.job_id, fine.job_id]],
    );
    expect(rows.map((r) => [r.kind, r.replayed_at])).toEqual([
      ["exhausted", null],
      ["exhausted", null],
    ]);
    await replayAll("kind=exhausted&limit=100"); // as the next call does, once it can
  });

  it("leaves a job of a newer format than it reads pending for the worker that reads it, neither sent nor judged invalid", async () => {
    const newer = {
      ...job("record_analytics", { tenant_id: T, user_id: U, payload: { event_type: "v2", properties: {} } }),
      v: 2,
    };
    await deadLetter(newer);
    const id = await deadJobId(newer.job_id);
    const bulk = await replayAll("kind=exhausted&limit=100");
    expect([...bulk.replayed.map((r) => r.id), ...bulk.not_replayable]).not.toContain(id);
    const [now] = await db.query<{ kind: string; replayed_at: string | null }>(
      "SELECT kind, replayed_at FROM dead_jobs WHERE id = $1",
      [id],
    );
    expect(now).toEqual({ kind: "exhausted", replayed_at: null });
    const one = await admin("POST", `/admin/dead-jobs/${id}/replay`);
    const body = (await one.json()) as { error: { code: string; message: string } };
    expect([one.status, body.error.code]).toEqual([409, "conflict"]);
    expect(body.error.message).toMatch(/newer format/);
    // Pending for good here (no newer worker comes): gone, so the next tests count what they replay.
    await db.query("DELETE FROM dead_jobs WHERE id = $1", [id]);
  });

  it("replays the oldest pending job first, and never offers one without a job id (nothing in it could be replayed)", async () => {
    const older = notification("Older", { message: "first" });
    const newer = notification("Newer", { message: "second" });
    await deadLetter(older);
    await deadLetter(newer);
    // Older than any other test's pending job, so the first call of one reaches it.
    await db.query("UPDATE dead_jobs SET created_at = '2000-01-01T00:00:00Z' WHERE job_id = $1", [
      older.job_id,
    ]);
    await deadLetter({ queue: "notification", operation: "send_notifications" });
    const [jobless] = await db.query<{ id: string }>(
      "SELECT id FROM dead_jobs WHERE job_id IS NULL AND kind = 'exhausted' ORDER BY created_at DESC LIMIT 1",
    );
    const res = await admin("POST", "/admin/dead-jobs/replay?kind=exhausted&limit=1");
    const first = (await res.json()) as Bulk;
    expect(first.replayed.map((r) => r.job_id)).toEqual([older.job_id]);
    const rest = await replayAll("kind=exhausted&limit=100");
    expect(rest.replayed.map((r) => r.job_id)).toContain(newer.job_id);
    expect([...first.not_replayable, ...rest.not_replayable]).not.toContain(jobless?.id);
    const [kept] = await db.query<{ kind: string; replayed_at: string | null }>(
      "SELECT kind, replayed_at FROM dead_jobs WHERE id = $1",
      [jobless?.id],
    );
    expect(kept).toEqual({ kind: "exhausted", replayed_at: null });
    await db.query("DELETE FROM dead_jobs WHERE id = $1", [jobless?.id]);
  });

  it("says no more when the jobs it replayed were exactly the last ones pending", async () => {
    for (const n of [1, 2]) {
      await deadLetter(
        job("record_analytics", {
          tenant_id: T,
          user_id: U,
          payload: { event_type: `last.${n}`, properties: {} },
        }),
      );
    }
    const [{ n } = { n: 0 }] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM dead_jobs WHERE kind = 'exhausted' AND replayed_at IS NULL AND job_id IS NOT NULL",
    );
    expect(n).toBeLessThanOrEqual(100); // one call's most
    const res = await admin("POST", `/admin/dead-jobs/replay?kind=exhausted&limit=${n}`);
    const page = (await res.json()) as { replayed: unknown[]; more: boolean };
    expect([page.replayed.length, page.more]).toEqual([n, false]);
  });

  it("answers 503 when the queue refuses a replay, says why in the request's log line, and keeps the job pending", async () => {
    const stuck = notification("Stuck", { message: "queue down" });
    await deadLetter(stuck);
    const id = await deadJobId(stuck.job_id);
    const lines = vi.spyOn(console, "log");
    try {
      const refusing = {
        send: () => Promise.reject(new Error("Queue send failed: queue is overloaded")),
        sendBatch: () => Promise.reject(new Error("Queue sendBatch failed: queue is overloaded")),
      };
      const res = await admin("POST", `/admin/dead-jobs/${id}/replay`, undefined, undefined, {
        NOTIFICATIONS_QUEUE: refusing as unknown as Queue,
      });
      expect(res.status).toBe(503);
      const logged = loggedLines(lines);
      expect(logged.find((l) => l.msg === "request")).toMatchObject({
        error_code: "service_unavailable",
        error_detail: "queue: Queue send failed: queue is overloaded",
      });
    } finally {
      lines.mockRestore();
    }
    const [after] = await db.query<{ replayed_at: string | null }>(
      "SELECT replayed_at FROM dead_jobs WHERE id = $1",
      [id],
    );
    expect(after?.replayed_at).toBeNull();
  });

  it("replays more than one read's worth in one call, each job once, reading at most 100 jobs at a time", async () => {
    const lost = Array.from({ length: 130 }, (_, i) =>
      job("record_analytics", {
        tenant_id: T,
        user_id: U,
        payload: { event_type: `outage.many.${i}`, properties: {} },
      }),
    );
    await deadLetter(...lost);

    // Each read's rows: a bound on the answer's size (see the next test for the largest jobs).
    const sql = openSql(env);
    let mostRows = 0;
    const counting: Queryable = {
      query: async (text, params) => {
        const answer = await sql.query(text, params);
        mostRows = Math.max(mostRows, answer.rows.length);
        return answer;
      },
    };
    const replayed = await replayDeadJobs(counting, env, {
      kind: "exhausted",
      queue: "analytics",
      limit: 1000,
    });
    if (!replayed.ok) throw new Error(JSON.stringify(replayed.error));
    expect(mostRows).toBeLessThanOrEqual(101); // a page and the row that says more follow
    const ids = replayed.value.replayed.map((r) => r.job_id);
    for (const j of lost) expect(ids.filter((id) => id === j.job_id)).toHaveLength(1);
    const [pending] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM dead_jobs WHERE job_id = ANY($1) AND replayed_at IS NULL",
      [lost.map((j) => j.job_id)],
    );
    expect(pending?.n).toBe(0);
  });

  it("reads a page of the largest jobs the API takes within what one SQL-over-HTTP answer may carry", async () => {
    // An event edit of 20,000 quotes, each escaped in the stored job and again in the answer:
    // ~80 KB a job, so a read of 101 is ~8 MB, under the 10 MiB the local endpoint, as Neon's,
    // answers (507 past it).
    const largest = Array.from({ length: 101 }, () =>
      job("update_content", {
        tenant_id: T,
        user_id: U,
        payload: {
          content_type: "events",
          content_id: crypto.randomUUID(),
          updates: { title: '"'.repeat(200), description: '"'.repeat(20_000) },
        },
      }),
    );
    await deadLetter(...largest);
    const replayed = await replayDeadJobs(openSql(env), env, {
      kind: "exhausted",
      queue: "content-updates",
      limit: 1000,
    });
    if (!replayed.ok) throw new Error(JSON.stringify(replayed.error));
    const ids = new Set(replayed.value.replayed.map((r) => r.job_id));
    expect(largest.filter((j) => !ids.has(j.job_id))).toEqual([]);
  });

  it("refuses kinds that cannot be replayed and limits past 1,000, and takes 1,000", async () => {
    for (const query of ["kind=invalid", "limit=1001", "limit=0", "queue=nope"]) {
      const res = await admin("POST", `/admin/dead-jobs/replay?${query}`);
      expect(res.status).toBe(400);
    }
    expect((await admin("POST", "/admin/dead-jobs/replay?limit=1000")).status).toBe(202);
  });
});

describe("dead job counts", () => {
  it("counts per kind and queue what is pending and what was replayed, with the oldest pending", async () => {
    const before = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM dead_jobs WHERE queue = 'analytics' AND kind = 'exhausted' AND replayed_at IS NULL",
    );
    const lost = job("record_analytics", {
      tenant_id: T,
      user_id: U,
      payload: { event_type: "counted", properties: {} },
    });
    await deadLetter(lost);
    const res = await admin("GET", "/admin/dead-jobs/counts");
    const body = (await res.json()) as {
      counts: {
        kind: string;
        queue: string;
        pending: number;
        total: number;
        oldest_pending: string | null;
      }[];
    };
    const analytics = body.counts.find((c) => c.kind === "exhausted" && c.queue === "analytics");
    expect(analytics?.pending).toBe((before[0]?.n ?? 0) + 1);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const [oldest] = await db.query<{ same: boolean }>(
      `SELECT min(created_at) = $1::timestamptz AS same FROM dead_jobs
        WHERE queue = 'analytics' AND kind = 'exhausted' AND replayed_at IS NULL`,
      [analytics?.oldest_pending],
    );
    expect(oldest?.same).toBe(true);

    // Replayed, it is no longer pending, and still counted in the total.
    const id = await deadJobId(lost.job_id);
    expect((await admin("POST", `/admin/dead-jobs/${id}/replay`)).status).toBe(202);
    const after = ((await (await admin("GET", "/admin/dead-jobs/counts")).json()) as typeof body).counts.find(
      (c) => c.kind === "exhausted" && c.queue === "analytics",
    );
    expect(after).toMatchObject({
      pending: (analytics?.pending ?? 0) - 1,
      total: analytics?.total,
    });
  });
});

describe("request log", () => {
  it("logs one JSON line a request, with the request id it answers with", async () => {
    const lines = vi.spyOn(console, "log");
    try {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request("http://batch.local/admin/dead-jobs/counts", {
          headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "x-request-id": "trace-0123456789" },
        }),
        env,
        ctx,
      );
      expect([res.status, res.headers.get("x-request-id")]).toEqual([200, "trace-0123456789"]);
      const logged = loggedLines(lines).filter((l) => l.msg === "request");
      expect(logged).toEqual([
        expect.objectContaining({
          request_id: "trace-0123456789",
          method: "GET",
          path: "/admin/dead-jobs/counts",
          status: 200,
        }),
      ]);
    } finally {
      lines.mockRestore();
    }
  });
});

describe("admin rate limit", () => {
  it("answers 429 with Retry-After once a client IP passes 60 requests a minute, before checking the token", async () => {
    await awaitRoomInRateLimitWindow();
    const statuses: number[] = [];
    for (let i = 0; i < 61; i++) {
      const res = await admin("GET", "/admin/dead-jobs/counts", "guess", "192.0.2.77");
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get("retry-after")).toBe("60");
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
      }
    }
    expect(statuses.slice(0, 60).every((s) => s === 403)).toBe(true);
    expect(statuses[60]).toBe(429);
  });
});

describe("the batch worker's API document", () => {
  it("documents health and the dead-jobs routes, each error with the one error body", async () => {
    const res = await admin("GET", "/openapi.json");
    const doc = (await res.json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>>;
      components: { securitySchemes?: Record<string, unknown> };
    };
    // The scheme the operations name below is one the document defines.
    expect(doc.components.securitySchemes).toEqual({ adminToken: { type: "http", scheme: "bearer" } });
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/admin/dead-jobs",
      "/admin/dead-jobs/counts",
      "/admin/dead-jobs/discard",
      "/admin/dead-jobs/replay",
      "/admin/dead-jobs/{id}",
      "/admin/dead-jobs/{id}/replay",
      "/health",
    ]);
    expect(Object.keys(doc.paths["/admin/dead-jobs/{id}"] ?? {}).sort()).toEqual(["delete", "get"]);
    expect(doc.paths["/admin/dead-jobs/{id}/replay"]?.post?.responses["409"]?.content).toEqual({
      "application/json": { schema: { $ref: "#/components/schemas/Error" } },
    });
    // Named once each, and authorised as generated clients must know: the admin token, or none.
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.values(methods).map((op) => ({ path, ...(op as { operationId?: string; security?: unknown }) })),
    );
    const ids = operations.map((o) => o.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => typeof id === "string")).toBe(true);
    for (const o of operations) {
      expect([o.path, o.security]).toEqual([o.path, o.path === "/health" ? [] : [{ adminToken: [] }]]);
    }
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        expect([method, path, op.responses["500"]?.content]).toEqual([
          method,
          path,
          { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        ]);
      }
    }
  });

  it("answers 500, not a 503 to retry, when the database refuses the statement, and logs its SQLSTATE", async () => {
    // A database without our tables (the server's admin database): the list's statement fails.
    const logged = vi.spyOn(console, "error");
    try {
      const res = await admin("GET", "/admin/dead-jobs", undefined, undefined, {
        DATABASE_URL: env.TEST_ADMIN_DATABASE_URL,
      });
      const body = (await res.json()) as { error: { code: string } };
      expect([res.status, body.error.code]).toEqual([500, "internal_error"]);
      const lines = loggedLines(logged);
      expect(lines).toContainEqual(
        expect.objectContaining({
          msg: "database refused a statement",
          code: "42P01",
          path: "/admin/dead-jobs",
        }),
      );
    } finally {
      logged.mockRestore();
    }
  });

  it("answers a malformed id or query with a JSON 400 naming the field", async () => {
    for (const [method, path, field] of [
      ["GET", "/admin/dead-jobs/not-a-uuid", "id"],
      ["GET", "/admin/dead-jobs?limit=0", "limit"],
      ["GET", "/admin/dead-jobs?limit=201", "limit"],
      ["POST", "/admin/dead-jobs/discard?kind=invalid&before=2001-01-01T00:00:00Z&limit=1001", "limit"],
      ["GET", "/admin/dead-jobs?kind=lost", "kind"],
      ["GET", "/admin/dead-jobs?user_id=someone", "user_id"],
    ] as const) {
      const res = await admin(method, path);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, body.error.code]).toEqual([400, "validation_failed"]);
      expect(body.error.message).toMatch(new RegExp(`^${field}: `));
    }
  });
});

describe("routes the batch worker does not have", () => {
  it("answers an unknown path 404 and a known one with the wrong method 405 with Allow, in the one error shape", async () => {
    const unknown = await admin("GET", "/admin/nothing-here");
    const wrong = await admin("POST", "/health");
    expect(wrong.headers.get("allow")).toBe("GET");
    for (const [res, status, code] of [
      [unknown, 404, "not_found"],
      [wrong, 405, "method_not_allowed"],
    ] as const) {
      expect([res.status, await res.json()]).toEqual([
        status,
        { error: { code, message: expect.any(String), request_id: res.headers.get("x-request-id") } },
      ]);
    }
  });
});
