import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { DENIAL_MESSAGES } from "../../common/authz";
import type { ErrorBody } from "../../common/errors";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { loggedLines } from "../../test-support/logs";
import { awaitRoomInRateLimitWindow } from "../../test-support/rate-limit";
import { signProjectKey, signToken } from "../../test-support/tokens";
import { uuidTime, uuidVersion } from "../../test-support/uuids";
import worker from "../src/index";

let db: WorkerTestDb;
const T = "f1000000-0000-4000-8000-000000000001";
const OTHER_T = "f1000000-0000-4000-8000-000000000002";
const U = {
  admin: "f2000000-0000-4000-8000-000000000001",
  author: "f2000000-0000-4000-8000-000000000002",
  member: "f2000000-0000-4000-8000-000000000003",
  outsider: "f2000000-0000-4000-8000-000000000004",
};
const POST = "f3000000-0000-4000-8000-000000000001";
const EVENT = "f4000000-0000-4000-8000-000000000001";
const OPEN_EVENT = "f4000000-0000-4000-8000-000000000002";
const DELETED_POST = "f3000000-0000-4000-8000-000000000002";
const DELETED_EVENT = "f4000000-0000-4000-8000-000000000003";

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${T}', 'jobs', 'Jobs'), ('${OTHER_T}', 'elsewhere', 'Elsewhere');
    INSERT INTO users (id, email) SELECT id::uuid, 'u' || n || '@example.com' FROM unnest(ARRAY['${U.admin}','${U.author}','${U.member}','${U.outsider}']) WITH ORDINALITY AS x(id, n);
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES
      ('${T}', '${U.admin}', 'admin', true), ('${T}', '${U.author}', 'member', false), ('${T}', '${U.member}', 'member', false),
      ('${OTHER_T}', '${U.outsider}', 'member', false);
    INSERT INTO posts (id, tenant_id, user_id, content, deleted_at)
      VALUES ('${POST}', '${T}', '${U.author}', 'hello', NULL), ('${DELETED_POST}', '${T}', '${U.author}', 'gone', now());
    INSERT INTO events (id, tenant_id, created_by, title, start_date, end_date, deleted_at)
      VALUES ('${EVENT}', '${T}', '${U.author}', 'Meetup', '2030-06-01T18:00:00Z', '2030-06-01T21:00:00Z', NULL),
             ('${OPEN_EVENT}', '${T}', '${U.author}', 'Open end', '2030-06-01T18:00:00Z', NULL, NULL),
             ('${DELETED_EVENT}', '${T}', '${U.author}', 'Called off', '2030-06-01T18:00:00Z', NULL, now());
  `);
});

async function post(
  path: string,
  who: string | null,
  body: unknown,
  headers: Record<string, string> = {},
  bindings: Partial<typeof env> = {},
) {
  const ctx = createExecutionContext();
  const auth: Record<string, string> = who
    ? { authorization: `Bearer ${await signToken({ sub: who })}` }
    : {};
  const res = await worker.fetch(
    new Request(`http://jobs.localhost${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth, ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
    { ...env, DATABASE_URL: db.url, ...bindings },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
const analytics = {
  queue: "analytics",
  operation: "record_analytics",
  payload: { event_type: "page.view", properties: { path: "/" } },
};
const notification = (recipient_ids?: string[]) => ({
  queue: "notification",
  operation: "send_notifications",
  payload: { type: "info", title: "Hi", message: "Hello", recipient_ids },
});
const edit = (updates: Record<string, unknown>, content_id = POST) => ({
  queue: "content_update",
  operation: "update_content",
  payload: { content_type: "posts", content_id, updates },
});

/** A member's analytics job, sent with a binding replaced (a failing queue or limiter). */
const enqueueWith = (bindings: Partial<typeof env>) => post("/v1/jobs", U.member, analytics, {}, bindings);

/** A queue binding that keeps what the worker sends it, one job or a batch, instead of queuing it. */
function capturingQueue() {
  const sent: { job_id: string; created_at: string }[] = [];
  type Job = (typeof sent)[number];
  const queue = {
    send: async (body: Job) => void sent.push(body),
    sendBatch: async (batch: { body: Job }[]) => void sent.push(...batch.map((m) => m.body)),
  } as unknown as Queue;
  return { queue, sent };
}

/** The analytics jobs a member's request sent, made twice a few ms apart; each answered 202. */
async function analyticsSentTwice(path: string, body: unknown, headers: Record<string, string> = {}) {
  const { queue, sent } = capturingQueue();
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setTimeout(r, 5));
    const res = await post(path, U.member, body, headers, { ANALYTICS_QUEUE: queue });
    expect(res.status).toBe(202);
  }
  return sent;
}

describe("write rate limit", () => {
  it("answers 429 with Retry-After once a user passes 120 writes a minute, counted per user, not per address", async () => {
    // A user of its own: the other tests' writes count against theirs.
    const heavy = crypto.randomUUID();
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${heavy}', 'heavy@example.com');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${T}', '${heavy}')`);
    await awaitRoomInRateLimitWindow();
    const sameAddress = { "cf-connecting-ip": "203.0.113.90" };
    // An empty body is refused (400) after the limiter has counted it: cheap, and it counts.
    const statuses: number[] = [];
    for (let i = 0; i < 120; i++) statuses.push((await post("/v1/jobs", heavy, {}, sameAddress)).status);
    expect(statuses.every((s) => s === 400)).toBe(true);
    const limited = await post("/v1/jobs", heavy, analytics, sameAddress);
    expect([limited.status, limited.headers.get("retry-after"), await code(limited)]).toEqual([
      429,
      "60",
      "rate_limited",
    ]);
    expect((await post("/v1/jobs", U.member, analytics, sameAddress)).status).toBe(202);
  });

  it("lets writes through when the limiter itself fails, and says so in a log line", async () => {
    const warnings = vi.spyOn(console, "warn");
    try {
      const failing = { limit: () => Promise.reject(new Error("limiter unavailable")) };
      const res = await enqueueWith({ WRITE_RATE_LIMITER: failing as unknown as RateLimit });
      expect(res.status).toBe(202);
      const lines = loggedLines(warnings);
      expect(lines).toContainEqual(
        expect.objectContaining({
          msg: "rate limiter failed; request let through",
          limiter: "WRITE_RATE_LIMITER",
        }),
      );
    } finally {
      warnings.mockRestore();
    }
  });
});

describe("POST /v1/jobs", () => {
  it("answers 503 with Retry-After when the queue refuses the send, and says why in the request's log line", async () => {
    const lines = vi.spyOn(console, "log");
    try {
      const refusing = { send: () => Promise.reject(new Error("Queue send failed: queue is overloaded")) };
      const res = await enqueueWith({ ANALYTICS_QUEUE: refusing as unknown as Queue });
      expect([res.status, res.headers.get("retry-after"), await code(res)]).toEqual([
        503,
        "5",
        "service_unavailable",
      ]);
      const line = loggedLines(lines).find((l) => l.msg === "request");
      expect(line).toMatchObject({ error_detail: "queue: Queue send failed: queue is overloaded" });
      // The ids it tried to send: after a partial send, what to look for downstream.
      expect(line?.job_ids).toEqual([expect.stringMatching(/^[0-9a-f-]{36}$/)]);
    } finally {
      lines.mockRestore();
    }
  });

  it("queues a member's job and answers 202 with its id", async () => {
    const res = await post("/v1/jobs", U.member, analytics);
    expect(res.status).toBe(202);
    expect(((await res.json()) as { job_id: string }).job_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get("cache-control")).toBe("private, no-store");
  });

  it("makes job ids in time order (UUID version 7 stamped with the job's enqueue time), so the rows keyed by them append to their indexes", async () => {
    const sent = await analyticsSentTwice("/v1/jobs/batch", { jobs: [analytics, analytics] });
    expect(sent).toHaveLength(4);
    for (const job of sent) {
      expect([uuidVersion(job.job_id), uuidTime(job.job_id)]).toEqual([7, Date.parse(job.created_at)]);
    }
    expect(new Set(sent.map((j) => j.job_id)).size).toBe(4);
    // A later request's ids sort after an earlier one's, as Postgres orders uuids.
    const [a, b, c, d] = sent.map((j) => j.job_id);
    expect([a, b].every((x) => (x ?? "") < (c ?? "") && (x ?? "") < (d ?? ""))).toBe(true);
  });

  it("gives the same job id for the same Idempotency-Key, tenant and user, and another for another user or community", async () => {
    const id = async (who: string, tenant = "jobs") => {
      const res = await post("/v1/jobs", who, analytics, {
        "idempotency-key": "click-42",
        "x-tenant": tenant,
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { job_id: string }).job_id;
    };
    const first = await id(U.member);
    // A hash of the key (version 8), not a time: a retry must get it whenever it comes.
    expect(uuidVersion(first)).toBe(8);
    expect(await id(U.member)).toBe(first);
    expect(await id(U.author)).not.toBe(first);
    // The same request under the same key in a second community of the user's is another job:
    // taken for the first, it would be dropped as a duplicate after its 202.
    await db.query(`INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${OTHER_T}', '${U.member}')`);
    try {
      expect(await id(U.member, "elsewhere")).not.toBe(first);
    } finally {
      await db.query(`DELETE FROM tenant_users WHERE tenant_id = '${OTHER_T}' AND user_id = '${U.member}'`);
    }
  });

  it("keeps an Idempotency-Key's record for a day, so a client retrying after an outage gets the same job", async () => {
    const records = async () => (await env.TENANT_CACHE.list({ prefix: "idem:v1:" })).keys;
    const before = new Set((await records()).map((k) => k.name));
    const sentAt = Date.now() / 1000;
    const res = await post("/v1/jobs", U.member, analytics, {
      "idempotency-key": `day-${crypto.randomUUID()}`,
    });
    expect(res.status).toBe(202);
    const made = (await records()).filter((k) => !before.has(k.name));
    expect(made).toHaveLength(1);
    // A day, no less and not much more: KV counts it from the write, a moment after sentAt.
    expect(made[0]?.expiration).toBeGreaterThanOrEqual(sentAt + 24 * 60 * 60 - 5);
    expect(made[0]?.expiration).toBeLessThanOrEqual(sentAt + 24 * 60 * 60 + 60);
  });

  it("sends a retried request's job as the very same job, its enqueue time included", async () => {
    // created_at is an analytics event's partition key and half its (job_id, created_at) key: a
    // retry sent with a new time, in a batch of its own, would be a second row.
    const sent = await analyticsSentTwice("/v1/jobs", analytics, { "idempotency-key": "retried-7" });
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sent[0]);
  });

  it("refuses an Idempotency-Key sent again with a different request (422), not dropping it after a 202", async () => {
    const key = { "idempotency-key": "form-7" };
    const sent = {
      ...analytics,
      payload: { event_type: "form.sent", properties: { form: "signup", step: 2 } },
    };
    const first = await post("/v1/jobs", U.member, sent, key);
    expect(first.status).toBe(202);
    // The same request with its properties in another order and its default spelled out is the same.
    const reordered = {
      ...sent,
      priority: 1,
      payload: { event_type: "form.sent", properties: { step: 2, form: "signup" } },
    };
    const again = await post("/v1/jobs", U.member, reordered, key);
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual(await first.json());
    const other = { ...sent, payload: { ...sent.payload, properties: { form: "signup", step: 3 } } };
    const reused = await post("/v1/jobs", U.member, other, key);
    expect([reused.status, await code(reused)]).toEqual([422, "idempotency_key_reused"]);
  });

  it("gives another request under a key KV has no record of yet its own job ids, never the first's", async () => {
    // As with two first attempts at once, or a record not yet seen at another location.
    const key = { "idempotency-key": "race-1" };
    const one = { ...analytics, payload: { event_type: "race.one", properties: {} } };
    const two = { ...analytics, payload: { event_type: "race.two", properties: {} } };
    const first = (await (await post("/v1/jobs", U.member, one, key)).json()) as { job_id: string };
    for (const { name } of (await env.TENANT_CACHE.list({ prefix: "idem:v1:" })).keys) {
      await env.TENANT_CACHE.delete(name);
    }
    const second = await post("/v1/jobs", U.member, two, key);
    expect(second.status).toBe(202);
    const { job_id } = (await second.json()) as { job_id: string };
    expect(job_id).not.toBe(first.job_id);
    // A retry of that request is still that job.
    const retried = (await (await post("/v1/jobs", U.member, two, key)).json()) as { job_id: string };
    expect(retried.job_id).toBe(job_id);
  });

  it("says once what a priority must be, however far out of range it is", async () => {
    for (const priority of [0, 11, 2.5, 1e300, "high"]) {
      const res = await post("/v1/jobs", U.member, { ...analytics, priority });
      expect([priority, res.status, ((await res.json()) as ErrorBody).error.message]).toEqual([
        priority,
        400,
        "priority: a whole number from 1 to 10",
      ]);
    }
  });

  it("needs a token, and membership of the tenant", async () => {
    const anonymous = await post("/v1/jobs", null, analytics);
    expect([anonymous.status, await code(anonymous)]).toEqual([401, "unauthorized"]);
    const anonKey = await post("/v1/jobs", null, analytics, {
      authorization: `Bearer ${await signProjectKey()}`,
    });
    expect([anonKey.status, await code(anonKey)]).toEqual([401, "unauthorized"]);
    const publishableKey = await post("/v1/jobs", null, analytics, {
      authorization: "Bearer sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH",
    });
    expect([publishableKey.status, await code(publishableKey)]).toEqual([401, "unauthorized"]);
    const outsider = await post("/v1/jobs", U.outsider, analytics);
    expect([outsider.status, await code(outsider)]).toEqual([403, "forbidden"]);
  });

  it.each([
    ["a top-level user_id", { ...analytics, user_id: U.admin }],
    ["a job_id of the client's choosing", { ...analytics, job_id: crypto.randomUUID() }],
    ["an operation of another queue", { ...analytics, operation: "send_notifications" }],
    ["an unknown queue", { ...analytics, queue: "emails" }],
    ["a priority out of range", { ...analytics, priority: 11 }],
    ["updates.user_id", edit({ content: "x", user_id: U.admin })],
    ["updates.tenant_id", edit({ content: "x", tenant_id: OTHER_T })],
    ["updates.deleted_at", edit({ deleted_at: "2026-01-01T00:00:00Z" })],
    ["updates.total_likes", edit({ total_likes: 1_000_000 })],
    ["updates.id", edit({ id: crypto.randomUUID() })],
    ["an event field on a post", edit({ title: "x" })],
    [
      "a notification field we do not have",
      { ...notification(), payload: { ...notification().payload, sent_at: "now" } },
    ],
    [
      "an analytics field we do not have",
      { ...analytics, payload: { ...analytics.payload, user_id: U.member } },
    ],
    [
      "a notification titled with spaces only",
      { ...notification(), payload: { ...notification().payload, title: "   " } },
    ],
    [
      "a notification type of spaces only",
      { ...notification(), payload: { ...notification().payload, type: " " } },
    ],
    [
      "properties over 8 KB",
      { ...analytics, payload: { event_type: "big", properties: { blob: "x".repeat(9_000) } } },
    ],
  ])("refuses %s with 400 and writes nothing", async (_name, body) => {
    const queues = [capturingQueue(), capturingQueue(), capturingQueue()] as const;
    const res = await post(
      "/v1/jobs",
      U.admin,
      body,
      {},
      {
        NOTIFICATIONS_QUEUE: queues[0].queue,
        ANALYTICS_QUEUE: queues[1].queue,
        CONTENT_UPDATES_QUEUE: queues[2].queue,
      },
    );
    expect([res.status, await code(res)]).toEqual([400, "validation_failed"]);
    expect(queues.flatMap((q) => q.sent)).toEqual([]);
  });

  it("refuses a tenant_id that is not the resolved tenant", async () => {
    const res = await post("/v1/jobs", U.admin, { ...analytics, tenant_id: OTHER_T });
    expect([res.status, await code(res)]).toEqual([400, "validation_failed"]);
    expect((await post("/v1/jobs", U.admin, { ...analytics, tenant_id: T })).status).toBe(202);
  });

  it("lets members notify themselves, admins notify members, and refuses the rest", async () => {
    expect((await post("/v1/jobs", U.member, notification())).status).toBe(202);
    expect((await post("/v1/jobs", U.admin, notification([U.member, U.author]))).status).toBe(202);
    const toOthers = await post("/v1/jobs", U.member, notification([U.author]));
    // One job: the rule's own words, with no jobs.N to point into a batch.
    expect([toOthers.status, ((await toOthers.json()) as { error: unknown }).error]).toEqual([
      403,
      {
        code: "forbidden",
        message: DENIAL_MESSAGES.not_admin,
        request_id: toOthers.headers.get("x-request-id"),
      },
    ]);
    const toOutsider = await post("/v1/jobs", U.admin, notification([U.outsider]));
    expect([toOutsider.status, await code(toOutsider)]).toEqual([403, "forbidden"]);
  });

  it("lets the author or an admin edit a post, refuses other members, and 404s unknown content", async () => {
    expect((await post("/v1/jobs", U.author, edit({ content: "edited" }))).status).toBe(202);
    expect((await post("/v1/jobs", U.admin, edit({ content: "moderated" }))).status).toBe(202);
    const other = await post("/v1/jobs", U.member, edit({ content: "hijack" }));
    expect([other.status, await code(other)]).toEqual([403, "forbidden"]);
    const missing = await post("/v1/jobs", U.admin, edit({ content: "x" }, crypto.randomUUID()));
    expect([missing.status, await code(missing)]).toEqual([404, "not_found"]);
  });

  it("404s an edit of a deleted post or event, which the consumer would refuse after a 202", async () => {
    const deletedPost = await post("/v1/jobs", U.author, edit({ content: "revive" }, DELETED_POST));
    expect([deletedPost.status, await code(deletedPost)]).toEqual([404, "not_found"]);
    const deletedEvent = await post("/v1/jobs", U.author, {
      queue: "content_update",
      operation: "update_content",
      payload: { content_type: "events", content_id: DELETED_EVENT, updates: { title: "On again" } },
    });
    expect([deletedEvent.status, await code(deletedEvent)]).toEqual([404, "not_found"]);
  });

  it("refuses an event edit that would end the event before it starts (400), counting the stored dates", async () => {
    const editEvent = (updates: Record<string, unknown>) => ({
      queue: "content_update",
      operation: "update_content",
      payload: { content_type: "events", content_id: EVENT, updates },
    });
    const crossed = await post(
      "/v1/jobs",
      U.author,
      editEvent({ start_date: "2030-06-02T00:00:00Z", end_date: "2030-06-01T00:00:00Z" }),
    );
    expect([crossed.status, await code(crossed)]).toEqual([400, "validation_failed"]);
    // Each alone is a valid date; against the dates the event keeps, it is not.
    const endOnly = await post("/v1/jobs", U.author, editEvent({ end_date: "2030-06-01T12:00:00Z" }));
    expect([endOnly.status, await code(endOnly)]).toEqual([400, "validation_failed"]);
    const startOnly = await post("/v1/jobs", U.author, editEvent({ start_date: "2030-06-02T00:00:00Z" }));
    expect([startOnly.status, await code(startOnly)]).toEqual([400, "validation_failed"]);
    // Moving both, clearing the end, or moving the end later are fine.
    for (const updates of [
      { start_date: "2030-07-01T18:00:00Z", end_date: "2030-07-01T20:00:00Z" },
      { start_date: "2030-06-02T00:00:00Z", end_date: null },
      { end_date: "2030-06-01T23:00:00Z" },
    ]) {
      expect((await post("/v1/jobs", U.author, editEvent(updates))).status).toBe(202);
    }
    // An event without an end takes any start.
    const open = await post("/v1/jobs", U.author, {
      ...editEvent({ start_date: "2031-01-01T00:00:00Z" }),
      payload: {
        content_type: "events",
        content_id: OPEN_EVENT,
        updates: { start_date: "2031-01-01T00:00:00Z" },
      },
    });
    expect(open.status).toBe(202);
    // Who may edit comes first: a member who is not the author is refused for that.
    const other = await post("/v1/jobs", U.member, editEvent({ end_date: "2030-06-01T12:00:00Z" }));
    expect([other.status, await code(other)]).toEqual([403, "forbidden"]);
  });

  it("judges an event's dates to the microsecond, as Postgres keeps them and the consumer judges them", async () => {
    const precise = crypto.randomUUID();
    await db.query(
      `INSERT INTO events (id, tenant_id, created_by, title, start_date) VALUES ($1, '${T}', '${U.author}', 'Precise', '2030-06-01T18:00:00.000500Z')`,
      [precise],
    );
    const endAt = (end_date: string) =>
      post("/v1/jobs", U.author, {
        queue: "content_update",
        operation: "update_content",
        payload: { content_type: "events", content_id: precise, updates: { end_date } },
      });
    expect((await endAt("2030-06-01T18:00:00.000600Z")).status).toBe(202);
    const before = await endAt("2030-06-01T18:00:00.000400Z");
    expect([before.status, await code(before)]).toEqual([400, "validation_failed"]);
  });

  it("refuses a date Postgres has not (year 0000, an offset past ±15:59) or cannot give back (year 10000 in UTC) with a 400, and takes the edges", async () => {
    const editEvent = (start_date: string) => ({
      queue: "content_update",
      operation: "update_content",
      payload: { content_type: "events", content_id: OPEN_EVENT, updates: { start_date } },
    });
    const res = await post("/v1/jobs", U.author, editEvent("0000-06-01T00:00:00Z"));
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect([res.status, body.error.code]).toEqual([400, "validation_failed"]);
    expect(body.error.message).toMatch(/^payload\.updates\.start_date: there is no year 0000/);
    const offset = await post("/v1/jobs", U.author, editEvent("2030-06-01T00:00:00+16:00"));
    expect([offset.status, await code(offset)]).toEqual([400, "validation_failed"]);
    // Year 10000 in UTC: Postgres takes it, but writes it back as no RFC 3339 reader reads it.
    const sentinel = await post("/v1/jobs", U.author, editEvent("9999-12-31T23:59:59-05:00"));
    const said = (await sentinel.json()) as { error: { code: string; message: string } };
    expect([sentinel.status, said.error.code, said.error.message]).toEqual([
      400,
      "validation_failed",
      "payload.updates.start_date: a time from 0001-01-01 to 9999-12-31 in UTC",
    ]);
    for (const edge of ["0001-06-01T00:00:00Z", "2030-06-01T00:00:00-15:59", "9999-12-31T23:59:59+05:00"]) {
      expect((await post("/v1/jobs", U.author, editEvent(edge))).status).toBe(202);
    }
  });

  it("reads ids in any case: an upper-case id is the same user, tenant or post", async () => {
    const upper = (id: string) => id.toUpperCase();
    expect((await post("/v1/jobs", U.member, notification([upper(U.member)]))).status).toBe(202);
    expect((await post("/v1/jobs", U.admin, notification([upper(U.member)]))).status).toBe(202);
    expect((await post("/v1/jobs", U.author, edit({ content: "case" }, upper(POST)))).status).toBe(202);
    expect((await post("/v1/jobs", U.admin, { ...analytics, tenant_id: upper(T) })).status).toBe(202);
  });

  it.each([
    ["text/plain", "text/plain"],
    ["no Content-Type", ""],
    ["a form", "application/x-www-form-urlencoded"],
    ["another JSON type", "application/vnd.api+json"],
  ])("refuses a JSON body sent as %s with 415, never running the handler on it", async (_name, type) => {
    const res = await post("/v1/jobs", U.member, analytics, { "content-type": type });
    expect([res.status, await code(res)]).toEqual([415, "unsupported_media_type"]);
  });

  it("answers a write sent with no body and no type 400, naming what is missing, not 415", async () => {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request("http://jobs.localhost/v1/jobs", {
        method: "POST",
        headers: { authorization: `Bearer ${await signToken({ sub: U.member })}` },
      }),
      { ...env, DATABASE_URL: db.url },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const { error } = await res.json<ErrorBody>();
    expect([res.status, error.code, error.message]).toEqual([
      400,
      "validation_failed",
      expect.stringContaining("queue"),
    ]);
  });

  it("takes application/json with parameters", async () => {
    const charset = await post("/v1/jobs", U.member, analytics, {
      "content-type": "application/json; charset=utf-8",
    });
    expect(charset.status).toBe(202);
  });

  it("refuses text Postgres cannot store (U+0000, an unpaired surrogate) with a 400 naming where it is", async () => {
    for (const [job, field] of [
      [
        { ...notification(), payload: { type: "info", title: "Hi\u0000", message: "Hello" } },
        "payload.title",
      ],
      [
        { ...analytics, payload: { event_type: "e", properties: { "k\ud800": 1 } } },
        "payload.properties.k\ud800",
      ],
      [edit({ content: "half \udc00 a pair" }), "payload.updates.content"],
    ] as const) {
      const res = await post("/v1/jobs", U.member, job);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, body.error.code]).toEqual([400, "validation_failed"]);
      expect(body.error.message.startsWith(`${field}: `)).toBe(true);
    }
    // A whole pair is a character like any other.
    expect(
      (
        await post("/v1/jobs", U.member, {
          ...notification(),
          payload: { type: "info", title: "a smile \ud83d\ude00", message: "Hello" },
        })
      ).status,
    ).toBe(202);
  });

  it("refuses JSON nested deeper than 32 levels (400) for its depth alone, also under an Idempotency-Key, and takes 32", async () => {
    const nested = (levels: number) => {
      let v: unknown = 1;
      for (let i = 1; i < levels; i++) v = [v];
      return { ...analytics, payload: { event_type: "deep", properties: { a: v } } };
    };
    // Thousands of levels fit the body limit: a recursive walk over them overflowed the stack (500).
    // 20,000 are past the 8 KiB cap too, yet only the depth is judged: the cap's JSON.stringify,
    // itself a recursive walk, never sees such a value.
    for (const headers of [{}, { "idempotency-key": "deep" }] as Record<string, string>[]) {
      const res = await post("/v1/jobs", U.member, nested(20_000), headers);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, body.error.code, body.error.message]).toEqual([
        400,
        "validation_failed",
        "payload.properties: nested at most 32 levels",
      ]);
    }
    // properties itself is the first level.
    expect((await post("/v1/jobs", U.member, nested(32))).status).toBe(202);
    expect((await post("/v1/jobs", U.member, nested(33))).status).toBe(400);
  });

  it("refuses an Idempotency-Key over 200 characters with a 400 naming the header", async () => {
    const res = await post("/v1/jobs", U.member, analytics, { "idempotency-key": "k".repeat(201) });
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect([res.status, error.code]).toEqual([400, "validation_failed"]);
    expect(error.message).toContain("idempotency-key");
    expect((await post("/v1/jobs", U.member, analytics, { "idempotency-key": "k".repeat(200) })).status).toBe(
      202,
    );
  });

  it("refuses a body over the size cap with 413, and malformed JSON with 400", async () => {
    const huge = await post("/v1/jobs", U.member, { ...analytics, padding: "x".repeat(70_000) });
    expect([huge.status, await code(huge)]).toEqual([413, "payload_too_large"]);
    const malformed = await post("/v1/jobs", U.member, "{not json");
    expect([malformed.status, await code(malformed)]).toEqual([400, "invalid_json"]);
  });
});

describe("POST /v1/jobs/batch", () => {
  it("queues up to 100 jobs and answers their ids in order, which the request's log line names too", async () => {
    const lines = vi.spyOn(console, "log");
    try {
      const res = await post("/v1/jobs/batch", U.admin, {
        jobs: [analytics, notification([U.member]), edit({ content: "batch" })],
      });
      expect(res.status).toBe(202);
      const { job_ids } = (await res.json()) as { job_ids: string[] };
      expect(new Set(job_ids).size).toBe(3);
      const line = loggedLines(lines).findLast((l) => l.msg === "request");
      expect(line).toMatchObject({ path: "/v1/jobs/batch", status: 202, job_ids });
    } finally {
      lines.mockRestore();
    }
  });

  it("refuses more than 100 jobs, none, a field beside the jobs, and the whole batch when one job is not allowed", async () => {
    for (const body of [
      { jobs: Array.from({ length: 101 }, () => analytics) },
      { jobs: [] },
      { jobs: [analytics], priority: 9 },
    ]) {
      const refused = await post("/v1/jobs/batch", U.admin, body);
      expect([refused.status, await code(refused)]).toEqual([400, "validation_failed"]);
    }
    const oneBad = await post("/v1/jobs/batch", U.member, { jobs: [analytics, notification([U.admin])] });
    const refused = (await oneBad.json()) as { error: { code: string; message: string } };
    // The message says which job, so a client can find it among a hundred.
    expect([oneBad.status, refused.error.code, refused.error.message]).toEqual([
      403,
      "forbidden",
      `jobs.1: ${DENIAL_MESSAGES.not_admin}`,
    ]);
  });
});
