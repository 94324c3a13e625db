import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { DENIAL_MESSAGES } from "../../common/authz";
import { isNewerFormat } from "../../common/jobs";
import { jobTime } from "../../common/time";
import { damage, ODD_JSON } from "../../test-support/damage";
import {
  endToEndDatabase,
  eventually,
  inSession,
  UNREACHABLE_PROXY,
  useWorkerTestDatabase,
  type WorkerTestDb,
} from "../../test-support/db";
import { job } from "../../test-support/jobs";
import { loggedLines } from "../../test-support/logs";
import { type Random, seeded } from "../../test-support/random";
import { DEAD_LETTER_MAX_RETRIES, JOB_QUEUE_MAX_RETRIES, retryDelaySeconds } from "../src/consume/retry";
import worker from "../src/index";

let db: WorkerTestDb;
const T = "c1000000-0000-4000-8000-000000000001";
const OTHER_T = "c1000000-0000-4000-8000-000000000002";
const ADMIN = "d1000000-0000-4000-8000-000000000001";
const MEMBER = "d1000000-0000-4000-8000-000000000002";
const OUTSIDER = "d1000000-0000-4000-8000-000000000003";
const POST = "e1000000-0000-4000-8000-000000000001";
const EVENT = "e1000000-0000-4000-8000-000000000002";

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${T}', 'consume', 'Consume'), ('${OTHER_T}', 'other', 'Other');
    INSERT INTO users (id, email) VALUES ('${ADMIN}', 'admin@example.com'), ('${MEMBER}', 'member@example.com'), ('${OUTSIDER}', 'outsider@example.com');
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES ('${T}', '${ADMIN}', 'admin', true), ('${T}', '${MEMBER}', 'member', false), ('${OTHER_T}', '${OUTSIDER}', 'member', false);
    INSERT INTO posts (id, tenant_id, user_id, content, updated_at) VALUES ('${POST}', '${T}', '${MEMBER}', 'original', '2020-01-01');
    INSERT INTO events (id, tenant_id, created_by, title, start_date, end_date, description, location_name, image_url, updated_at)
      VALUES ('${EVENT}', '${T}', '${MEMBER}', 'Meetup', '2030-01-01T10:00:00Z', '2030-01-01T12:00:00Z', 'desc', 'Hall', 'https://img.example/1.png', '2020-01-01');
  `);
});

let seq = 0;
async function deliver(
  queue: string,
  bodies: unknown[],
  overrides: Partial<typeof env> = {},
  attempts = 1,
  sentAt: (i: number) => Date = () => new Date(),
) {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, i) => ({ id: `msg-${++seq}`, timestamp: sentAt(i), attempts, body })),
  );
  // getQueueResult does not report retry delays: note them on the way through.
  const delays = new Map<string, number | undefined>();
  const observed = {
    queue: batch.queue,
    metadata: batch.metadata,
    ackAll: () => batch.ackAll(),
    retryAll: (o?: QueueRetryOptions) => batch.retryAll(o),
    messages: batch.messages.map((m) => ({
      id: m.id,
      timestamp: m.timestamp,
      body: m.body,
      attempts: m.attempts,
      ack: () => m.ack(),
      retry: (o?: QueueRetryOptions) => {
        delays.set(m.id, o?.delaySeconds);
        m.retry(o);
      },
    })),
  } as MessageBatch<unknown>;
  const ctx = createExecutionContext();
  await worker.queue(observed, { ...env, DATABASE_URL: db.url, ...overrides }, ctx);
  const result = await getQueueResult(batch, ctx);
  const ids = batch.messages.map((m) => m.id);
  return { result, ids, delays };
}

/**
 * As deliver, with the batch's own log line (queue, size and what became of its jobs) and its
 * warning lines (why jobs were retried).
 */
async function deliverLogged(
  queue: string,
  bodies: unknown[],
  attempts = 1,
  overrides: Partial<typeof env> = {},
  sentAt?: (i: number) => Date,
) {
  const lines = vi.spyOn(console, "log");
  const warnings = vi.spyOn(console, "warn");
  try {
    const delivered = await deliver(queue, bodies, overrides, attempts, sentAt);
    // Read now: restoring a spy forgets its calls.
    const warningLines = loggedLines(warnings);
    return {
      ...delivered,
      line: loggedLines(lines).findLast((l) => l.msg === "batch"),
      warned: (msg: string) => warningLines.find((l) => l.msg === msg),
    };
  } finally {
    lines.mockRestore();
    warnings.mockRestore();
  }
}

const count = async (sql: string, params: unknown[] = []) =>
  Number((await db.query<{ n: string }>(sql, params))[0]?.n ?? 0);

/** How many dead_jobs records of this kind the job has (0 or 1). */
const deadAs = (kind: "invalid" | "rejected" | "exhausted", jobId: string) =>
  count("SELECT count(*) AS n FROM dead_jobs WHERE job_id = $1 AND kind = $2", [jobId, kind]);

const notify = (
  fields: { user_id?: string; recipient_ids?: string[]; job_id?: string; type?: string } = {},
) =>
  job("send_notifications", {
    tenant_id: T,
    user_id: fields.user_id ?? ADMIN,
    ...(fields.job_id ? { job_id: fields.job_id } : {}),
    payload: {
      type: fields.type ?? "info",
      title: "Hello",
      message: "Hi there",
      data: { n: 1 },
      recipient_ids: fields.recipient_ids,
    },
  });

/** An analytics job, which no queue but analytics' carries. */
const strayAnalytics = () =>
  job("record_analytics", { tenant_id: T, user_id: ADMIN, payload: { event_type: "stray", properties: {} } });

describe("notifications consumer", () => {
  it("writes one row per recipient with one statement and acks every message", async () => {
    const a = notify({ recipient_ids: [ADMIN, MEMBER] });
    const b = notify({ user_id: MEMBER });
    const { result, ids } = await deliver("notifications", [a, b]);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(result.retryMessages).toEqual([]);
    expect(
      await count("SELECT count(*) AS n FROM notifications WHERE job_id = ANY($1)", [[a.job_id, b.job_id]]),
    ).toBe(3);
  });

  it("writes the same message delivered three times once, and counts each redelivery as a duplicate", async () => {
    const m = notify({ recipient_ids: [MEMBER] });
    for (let i = 0; i < 3; i++) {
      const { result, ids, line } = await deliverLogged("notifications", [m], 1 + i);
      expect(result.explicitAcks).toEqual(ids);
      expect(line).toMatchObject(i === 0 ? { written: 1, duplicates: 0 } : { written: 0, duplicates: 1 });
    }
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [m.job_id])).toBe(1);
  });

  it("says in its batch line how long the batch's oldest message waited for it", async () => {
    const started = Date.now();
    const ago = [90_000, 30_000];
    const sentAt = (i: number) => new Date(started - (ago[i] ?? 0));
    const { line } = await deliverLogged("notifications", [notify(), notify()], 1, {}, sentAt);
    expect(line?.lag_ms).toBeGreaterThanOrEqual(90_000);
    expect(line?.lag_ms).toBeLessThan(90_000 + (Date.now() - started) + 1);
  });

  it("writes a job delivered twice in one batch once, and its batch line counts the second as a duplicate", async () => {
    const m = notify({ recipient_ids: [MEMBER] });
    const { result, ids, line } = await deliverLogged("notifications", [m, m]);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [m.job_id])).toBe(1);
    expect(line).toMatchObject({ queue: "notifications", size: 2, written: 1, duplicates: 1 });
  });

  it("writes nothing for a recipient who muted the community or the notification's type, and counts a job all its recipients muted as muted, redelivered or not", async () => {
    const mute = (user: string, preferences: object) =>
      db.query(
        "UPDATE tenant_users SET notification_preferences = $3 WHERE tenant_id = $1 AND user_id = $2",
        [T, user, JSON.stringify(preferences)],
      );
    await mute(ADMIN, { muted: true });
    await mute(MEMBER, { muted_types: ["digest"] });
    try {
      const digest = notify({ recipient_ids: [ADMIN, MEMBER], type: "digest" });
      const info = notify({ recipient_ids: [ADMIN, MEMBER] });
      const own = notify({ user_id: MEMBER, type: "digest" });
      const { result, ids, line } = await deliverLogged("notifications", [digest, info, own]);
      expect(result.explicitAcks.sort()).toEqual([...ids].sort());
      const rows = await db.query<{ job_id: string; user_id: string }>(
        "SELECT job_id, user_id FROM notifications WHERE job_id = ANY($1)",
        [[digest.job_id, info.job_id, own.job_id]],
      );
      expect(rows).toEqual([{ job_id: info.job_id, user_id: MEMBER }]);
      expect(line).toMatchObject({ written: 1, muted: 2, duplicates: 0, rejected: 0 });
      const again = await deliverLogged("notifications", [digest], 2);
      expect(again.result.explicitAcks).toEqual(again.ids);
      expect(again.line).toMatchObject({ written: 0, muted: 1, duplicates: 0 });
      // A mute judges nothing: naming someone outside the community is refused all the same.
      const outside = notify({ recipient_ids: [MEMBER, OUTSIDER], type: "digest" });
      const refused = await deliverLogged("notifications", [outside]);
      expect(refused.line).toMatchObject({ rejected: 1, muted: 0 });
      expect(await deadAs("rejected", outside.job_id)).toBe(1);
    } finally {
      await mute(ADMIN, {});
      await mute(MEMBER, {});
    }
  });

  it("rejects, records and acks a member notifying others, and a non-member, without retrying", async () => {
    const notAdmin = notify({ user_id: MEMBER, recipient_ids: [ADMIN] });
    const outsider = notify({ user_id: OUTSIDER });
    const recipientOutside = notify({ recipient_ids: [OUTSIDER] });
    // Refused on its third delivery (the database was down for the first two, say).
    const { result, ids } = await deliver("notifications", [notAdmin, outsider, recipientOutside], {}, 3);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    const ids3 = [notAdmin.job_id, outsider.job_id, recipientOutside.job_id];
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = ANY($1)", [ids3])).toBe(0);
    const dead = await db.query<{ job_id: string; kind: string; error: string; attempts: number }>(
      "SELECT job_id, kind, error, attempts FROM dead_jobs WHERE job_id = ANY($1) ORDER BY error",
      [ids3],
    );
    expect(dead.map((d) => [d.kind, d.attempts])).toEqual([
      ["rejected", 3],
      ["rejected", 3],
      ["rejected", 3],
    ]);
    expect(dead.map((d) => d.error)).toEqual([
      "every recipient must be a member of this community",
      "only community admins can notify other members",
      "only members of this community can do that",
    ]);
    // Delivered again (its ack was lost): the record stays as it was, neither counting the
    // attempts twice nor dating the death anew.
    const record = () =>
      db.query("SELECT attempts, created_at::text, replayed_at FROM dead_jobs WHERE job_id = $1", [
        notAdmin.job_id,
      ]);
    const before = await record();
    const again = await deliver("notifications", [notAdmin], {}, 4);
    expect(again.result.explicitAcks).toEqual(again.ids);
    expect(await record()).toEqual(before);
  });

  it("writes and acks the valid messages of a mixed batch and sends the malformed one to dead_jobs", async () => {
    const good = notify();
    const { result, ids, line } = await deliverLogged(
      "notifications",
      [good, { job_id: "not-a-uuid", hello: 1 }, "garbage"],
      2,
    );
    expect(line).toMatchObject({ size: 3, written: 1, invalid: 2, retried: 0 });
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(result.retryMessages).toEqual([]);
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [good.job_id])).toBe(1);
    expect(
      await count(
        "SELECT count(*) AS n FROM dead_jobs WHERE kind = 'invalid' AND queue = 'notifications' AND attempts = 2",
      ),
    ).toBe(2);
  });

  it("retries a refused job and a malformed one while dead_jobs cannot take their records, and acks them once it can", async () => {
    const good = notify();
    const refused = notify({ user_id: MEMBER, recipient_ids: [ADMIN] });
    const malformed = { job_id: crypto.randomUUID(), hello: 1 };
    // Every new record fails (a check no row passes; NOT VALID spares the rows already there).
    await db.query("ALTER TABLE dead_jobs ADD CONSTRAINT test_refuses_records CHECK (false) NOT VALID");
    try {
      const { result, ids, warned } = await deliverLogged("notifications", [good, refused, malformed]);
      expect(result.explicitAcks).toEqual([ids[0]]);
      expect(result.retryMessages.map((r) => r.msgId).sort()).toEqual([ids[1], ids[2]].sort());
      // Said, with the jobs it concerns: nothing else tells an operator why they come back.
      const said = warned("dead jobs could not be recorded; retrying them");
      expect(said).toMatchObject({ queue: "notifications", kind: "query" });
      expect([...((said?.job_ids ?? []) as string[])].sort()).toEqual(
        [refused.job_id, malformed.job_id].sort(),
      );
    } finally {
      await db.query("ALTER TABLE dead_jobs DROP CONSTRAINT test_refuses_records");
    }
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [good.job_id])).toBe(1);
    const again = await deliver("notifications", [refused, malformed], {}, 2);
    expect(again.result.explicitAcks.sort()).toEqual([...again.ids].sort());
    expect([await deadAs("rejected", refused.job_id), await deadAs("invalid", malformed.job_id)]).toEqual([
      1, 1,
    ]);
  });

  it("keeps text Postgres cannot store from failing the batch: that job is kept as invalid, the others are written", async () => {
    const good = notify();
    const poisoned = job("send_notifications", {
      tenant_id: T,
      user_id: ADMIN,
      payload: { type: "info", title: "Hi\u0000", message: "m", data: { "k\ud800": "v" } },
    });
    const { result, ids } = await deliver("notifications", [good, poisoned]);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [good.job_id])).toBe(1);
    const [kept] = await db.query<{ kind: string; error: string; title: string; keys: string[] }>(
      `SELECT kind, error, message #>> '{payload,title}' AS title,
              array(SELECT jsonb_object_keys(message #> '{payload,data}')) AS keys
         FROM dead_jobs WHERE job_id = $1`,
      [poisoned.job_id],
    );
    // Kept as evidence, each such character as U+FFFD.
    expect(kept).toEqual({
      kind: "invalid",
      error: expect.stringMatching(/^payload\.title: text must not contain U\+0000/),
      title: "Hi\ufffd",
      keys: ["k\ufffd"],
    });
    // The dead-letter queue keeps such a message too, rather than failing to record its batch.
    const exhausted = { ...notify(), note: "\u0000" };
    const dead = await deliver("jobs-dead-letter", [exhausted]);
    expect(dead.result.ackAll || dead.result.explicitAcks.length === 1).toBe(true);
    expect(await deadAs("exhausted", exhausted.job_id)).toBe(1);
  });

  it("keeps a job whose data nests deeper than 32 levels as invalid, and writes the rest of its batch", async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    const good = notify();
    const nested = job("send_notifications", {
      tenant_id: T,
      user_id: ADMIN,
      payload: { type: "info", title: "Deep", message: "m", data: { deep } },
    });
    const { result, ids } = await deliver("notifications", [good, nested]);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [good.job_id])).toBe(1);
    expect(await deadAs("invalid", nested.job_id)).toBe(1);
  });

  it("keeps at most 2,000 characters of why a message is invalid, however long its fault", async () => {
    const long = job("update_content", {
      tenant_id: T,
      user_id: MEMBER,
      // A strict object names an unknown key in its error, and a key may be as long as the body.
      payload: {
        content_type: "posts",
        content_id: POST,
        updates: { ["k".repeat(5_000)]: "x" } as unknown as { content: string },
      },
    });
    const { result, ids } = await deliver("content-updates", [long]);
    expect(result.explicitAcks).toEqual(ids);
    const [row] = await db.query<{ length: number }>(
      "SELECT length(error) AS length FROM dead_jobs WHERE job_id = $1 AND kind = 'invalid'",
      [long.job_id],
    );
    expect(Number(row?.length)).toBe(2_000);
  });

  it("keeps an event edit dated in year 0000 as invalid instead of failing its batch, whose other edits are applied", async () => {
    const OWN_EVENT = "e1000000-0000-4000-8000-0000000000e0";
    await db.query(
      `INSERT INTO events (id, tenant_id, created_by, title, start_date, updated_at)
       VALUES ('${OWN_EVENT}', '${T}', '${MEMBER}', 'Mine', '2030-01-01T10:00:00Z', '2020-01-01')`,
    );
    const edit = (start_date: string) =>
      job("update_content", {
        tenant_id: T,
        user_id: MEMBER,
        payload: { content_type: "events", content_id: OWN_EVENT, updates: { start_date } },
      });
    const yearZero = edit("0000-06-01T00:00:00Z");
    const fine = edit("2029-12-31T10:00:00Z");
    const { result, ids } = await deliver("content-updates", [yearZero, fine]);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(await deadAs("invalid", yearZero.job_id)).toBe(1);
    const [row] = await db.query<{ start: string }>(
      "SELECT to_char(start_date AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS start FROM events WHERE id = $1",
      [OWN_EVENT],
    );
    expect(row?.start).toBe("2029-12-31");
  });

  it("records a malformed message whose job_id only looks like one without it, not failing its batch's record", async () => {
    const good = notify();
    const fake = { job_id: "-".repeat(36), note: "fake-id" };
    const consumed = await deliver("notifications", [good, fake]);
    expect(consumed.result.explicitAcks.sort()).toEqual([...consumed.ids].sort());
    // Naming a queue that is none of ours, too: it is kept under "unknown".
    const dead = await deliver("jobs-dead-letter", [
      { job_id: "0".repeat(36), queue: "elsewhere", note: "dead-fake-id" },
    ]);
    expect(dead.result.ackAll || dead.result.explicitAcks.length === 1).toBe(true);
    const kept = await db.query<{ job_id: string | null; kind: string; queue: string }>(
      "SELECT job_id, kind, queue FROM dead_jobs WHERE message->>'note' IN ('fake-id', 'dead-fake-id') ORDER BY kind",
    );
    expect(kept).toEqual([
      { job_id: null, kind: "exhausted", queue: "unknown" },
      { job_id: null, kind: "invalid", queue: "notifications" },
    ]);
  });

  it("refuses a message that is no JSON data (a v8 body with a bigint) as invalid, and writes the rest of its batch", async () => {
    // Queues' default content type is v8, so a producer that leaves it out can send values JSON
    // has no text for; the JSON size check threw on it, and the whole batch was retried.
    const good = notify();
    const big = notify();
    big.payload = { ...big.payload, data: { n: 2n ** 64n } };
    const { result, ids } = await deliver("notifications", [good, big]);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [good.job_id])).toBe(1);
    const [kept] = await db.query<{ kind: string; n: unknown; error: string }>(
      "SELECT kind, message->'payload'->'data'->'n' AS n, error FROM dead_jobs WHERE job_id = $1",
      [big.job_id],
    );
    // Kept as evidence with the number as text, which is how JSON can hold it.
    expect(kept).toEqual({
      kind: "invalid",
      n: "18446744073709551616",
      error:
        "payload.data: JSON data only: strings, finite numbers, booleans, null, arrays and plain objects",
    });
  });

  it("records a malformed job that comes twice in one batch once, and writes the rest", async () => {
    const good = notify();
    const malformed = { ...notify(), operation: "nonsense" };
    const { result, ids } = await deliver("notifications", [malformed, good, malformed]);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [good.job_id])).toBe(1);
    expect(await deadAs("invalid", malformed.job_id)).toBe(1);
  });

  it("refuses a job of another queue's kind as invalid", async () => {
    const stray = strayAnalytics();
    const { result, ids } = await deliver("notifications", [stray]);
    expect(result.explicitAcks).toEqual(ids);
    expect(await deadAs("invalid", stray.job_id)).toBe(1);
  });

  it("retries a message of a newer format (its producer deployed first) instead of refusing it, and writes the rest", async () => {
    const current = notify();
    const newer = { ...notify(), v: 2, payload: { shape: "not known here" } };
    const { result, ids, delays } = await deliver("notifications", [current, newer], {}, 2);
    expect(result.explicitAcks).toEqual([ids[0]]);
    expect(result.retryMessages.map((r) => r.msgId)).toEqual([ids[1]]);
    expect(delays.get(ids[1] ?? "")).toBe(10);
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [current.job_id])).toBe(
      1,
    );
    expect(await count("SELECT count(*) AS n FROM dead_jobs WHERE job_id = $1", [newer.job_id])).toBe(0);
  });
});

/**
 * Queue names are unique in a Cloudflare account and a queue has one consumer, so a second
 * environment in the account (staging) names its queues apart: `<name>-<environment>`.
 */
describe("queues of another environment", () => {
  it("writes the jobs of notifications-staging as those of notifications", async () => {
    const m = notify({ recipient_ids: [MEMBER] });
    const { result, ids } = await deliver("notifications-staging", [m]);
    expect(result.explicitAcks).toEqual(ids);
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [m.job_id])).toBe(1);
    expect(await count("SELECT count(*) AS n FROM dead_jobs WHERE job_id = $1", [m.job_id])).toBe(0);
  });

  it("records what it refuses under the queue's own name, as the admin API lists them", async () => {
    const stray = strayAnalytics();
    const { result, ids } = await deliver("content-updates-staging", [stray]);
    expect(result.explicitAcks).toEqual(ids);
    const [row] = await db.query<{ kind: string; queue: string }>(
      "SELECT kind, queue FROM dead_jobs WHERE job_id = $1",
      [stray.job_id],
    );
    expect(row).toEqual({ kind: "invalid", queue: "content-updates" });
  });

  it("records what ran out of retries on jobs-dead-letter-staging as exhausted, to be replayed", async () => {
    const lost = notify({ recipient_ids: [MEMBER] });
    const { result, ids } = await deliver("jobs-dead-letter-staging", [lost]);
    expect(result.ackAll || result.explicitAcks.length === ids.length).toBe(true);
    expect(await deadAs("exhausted", lost.job_id)).toBe(1);
  });

  it("retries, never refuses, the jobs of a queue it has no consumer for, and says so", async () => {
    const m = notify({ recipient_ids: [MEMBER] });
    const errors = vi.spyOn(console, "error");
    try {
      const { result, ids, delays } = await deliver("notifications2", [m], {}, 3);
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryMessages.map((r) => r.msgId)).toEqual(ids);
      expect(delays.get(ids[0] ?? "")).toBe(20);
      expect(loggedLines(errors)).toContainEqual(
        expect.objectContaining({ queue: "notifications2", job_ids: [m.job_id] }),
      );
    } finally {
      errors.mockRestore();
    }
    expect(await count("SELECT count(*) AS n FROM dead_jobs WHERE job_id = $1", [m.job_id])).toBe(0);
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [m.job_id])).toBe(0);
  });
});

describe("when the database is down", () => {
  it("acks nothing, retries every message with a delay by its job's priority, and writes them once it is back", async () => {
    const jobs = [notify(), notify({ user_id: MEMBER }), { ...notify(), priority: 8 }];
    const down = await deliverLogged("notifications", jobs, 3, { LOCAL_DB_PROXY: UNREACHABLE_PROXY });
    // Each retried job can be followed by its id to why: its dead_jobs record points here.
    const said = down.warned("job group failed; retrying");
    expect(said).toMatchObject({
      queue: "notifications",
      operation: "send_notifications",
      kind: "unavailable",
    });
    expect(said?.job_ids).toEqual(jobs.map((j) => j.job_id));
    expect(down.line).toMatchObject({ size: 3, written: 0, retried: 3 });
    expect(down.result.explicitAcks).toEqual([]);
    expect(down.result.ackAll).toBe(false);
    expect(down.result.retryMessages.map((r) => r.msgId).sort()).toEqual([...down.ids].sort());
    // Third attempt: 5 s doubled twice at priority 1, 1 s doubled twice at priority 8.
    expect(down.ids.map((id) => down.delays.get(id))).toEqual([20, 20, 4]);
    const back = await deliver("notifications", jobs, {}, 4);
    expect(back.result.explicitAcks.sort()).toEqual([...back.ids].sort());
    expect(
      await count("SELECT count(*) AS n FROM notifications WHERE job_id = ANY($1)", [
        jobs.map((j) => j.job_id),
      ]),
    ).toBe(3);
  });
});

describe("retry back-off", () => {
  it("doubles per attempt from 5 s, from 1 s for priority 8+, and stops at 5 minutes", () => {
    expect([1, 2, 3, 4].map((a) => retryDelaySeconds(a, 1))).toEqual([5, 10, 20, 40]);
    expect([1, 2, 3].map((a) => retryDelaySeconds(a, 9))).toEqual([1, 2, 4]);
    expect([7, 8].map((p) => retryDelaySeconds(1, p))).toEqual([5, 1]);
    expect(retryDelaySeconds(20, 1)).toBe(300);
  });
});

describe("analytics consumer", () => {
  it("writes each event once into its month's partition, whatever the redeliveries, and takes a redelivery for a duplicate, not a fault", async () => {
    const e = job("record_analytics", {
      tenant_id: T,
      user_id: MEMBER,
      payload: { event_type: "page.view", properties: { path: "/" } },
    });
    await deliver("analytics", [e, e]);
    const again = await deliverLogged("analytics", [e], 2);
    expect(again.result.explicitAcks).toEqual(again.ids);
    expect(again.line).toMatchObject({ written: 0, duplicates: 1, rejected: 0 });
    expect(await count("SELECT count(*) AS n FROM dead_jobs WHERE job_id = $1", [e.job_id])).toBe(0);
    const rows = await db.query<{ part: string }>(
      "SELECT tableoid::regclass::text AS part FROM analytics_events WHERE job_id = $1",
      [e.job_id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.part).toMatch(/^analytics_events_p\d{6}$/);
  });

  it("rejects events from non-members", async () => {
    const e = job("record_analytics", {
      tenant_id: T,
      user_id: OUTSIDER,
      payload: { event_type: "page.view", properties: {} },
    });
    await deliver("analytics", [e]);
    expect(await count("SELECT count(*) AS n FROM analytics_events WHERE job_id = $1", [e.job_id])).toBe(0);
    expect(await deadAs("rejected", e.job_id)).toBe(1);
  });
});

describe("content update consumer", () => {
  const update = (content: string, at: string, user = MEMBER) =>
    job("update_content", {
      tenant_id: T,
      user_id: user,
      created_at: at,
      payload: { content_type: "posts", content_id: POST, updates: { content } },
    });
  const editEvent = (updates: Record<string, unknown>, at: string) =>
    job("update_content", {
      tenant_id: T,
      user_id: MEMBER,
      created_at: at,
      payload: { content_type: "events", content_id: EVENT, updates } as never,
    });
  const content = async () =>
    (await db.query<{ content: string }>("SELECT content FROM posts WHERE id = $1", [POST]))[0]?.content;

  it("coalesces updates of one post in a batch: the latest wins, and the older is counted as stale", async () => {
    const { line } = await deliverLogged("content-updates", [
      update("second", "2026-05-01T00:00:02Z"),
      update("first", "2026-05-01T00:00:01Z"),
    ]);
    expect(await content()).toBe("second");
    expect(line).toMatchObject({ size: 2, written: 1, stale: 1 });
  });

  it("applies the later of two edits of one request (microseconds apart) when the batch runs job by job too", async () => {
    const [item, other] = [crypto.randomUUID(), crypto.randomUUID()];
    await db.query(
      `INSERT INTO posts (id, tenant_id, user_id, content, updated_at)
       VALUES ($1, '${T}', '${MEMBER}', 'draft', '2020-01-01'), ($2, '${T}', '${MEMBER}', 'draft', '2020-01-01')`,
      [item, other],
    );
    // A row the database refuses, standing in for any: the batch then runs one job at a time.
    await db.query("ALTER TABLE posts ADD CONSTRAINT test_no_poison CHECK (content <> 'poison')");
    try {
      const edit = (id: string, content: string, i: number) =>
        job("update_content", {
          tenant_id: T,
          user_id: MEMBER,
          created_at: jobTime("2026-07-01T00:00:00.000Z", i),
          payload: { content_type: "posts", content_id: id, updates: { content } },
        });
      const { result, ids } = await deliver("content-updates", [
        edit(item, "first", 0),
        edit(item, "second", 1),
        edit(other, "poison", 2),
      ]);
      expect(result.explicitAcks.sort()).toEqual([...ids].sort());
      const rows = await db.query<{ content: string }>(
        "SELECT content FROM posts WHERE id = ANY($1) ORDER BY id = $2",
        [[item, other], other],
      );
      expect(rows.map((r) => r.content)).toEqual(["second", "draft"]);
    } finally {
      await db.query("ALTER TABLE posts DROP CONSTRAINT test_no_poison");
    }
  });

  it("changes nothing when an older update arrives after a newer one", async () => {
    await deliver("content-updates", [update("newest", "2026-06-01T00:00:00Z")]);
    const { result, ids } = await deliver("content-updates", [update("older", "2026-05-15T00:00:00Z")]);
    expect(result.explicitAcks).toEqual(ids);
    expect(await content()).toBe("newest");
  });

  it.each([
    {
      kind: "posts",
      field: "content",
      insert: `INSERT INTO posts (id, tenant_id, user_id, content, updated_at) VALUES ($1, '${T}', '${MEMBER}', 'draft', '2020-01-01')`,
    },
    {
      kind: "events",
      field: "title",
      insert: `INSERT INTO events (id, tenant_id, created_by, title, start_date, updated_at) VALUES ($1, '${T}', '${MEMBER}', 'draft', '2030-01-01', '2020-01-01')`,
    },
  ] as const)(
    "applies an update of $kind delivered three times once: a redelivery leaves the row as it is, unwritten, and is counted stale",
    async ({ kind, field, insert }) => {
      const item = crypto.randomUUID();
      await db.query(insert, [item]);
      const edit = job("update_content", {
        tenant_id: T,
        user_id: MEMBER,
        created_at: "2026-06-15T00:00:00Z",
        payload: { content_type: kind, content_id: item, updates: { [field]: "once" } } as never,
      });
      // xmin names the transaction that wrote the row's current version.
      const read = async () =>
        (
          await db.query<{ v: string; value: string }>(
            `SELECT xmin::text AS v, ${field} AS value FROM ${kind} WHERE id = $1`,
            [item],
          )
        )[0];
      expect((await deliverLogged("content-updates", [edit])).line).toMatchObject({ written: 1, stale: 0 });
      const written = await read();
      expect(written?.value).toBe("once");
      for (let i = 0; i < 2; i++) {
        const { result, ids, line } = await deliverLogged("content-updates", [edit], 2 + i);
        expect(result.explicitAcks).toEqual(ids);
        expect(line).toMatchObject({ written: 0, stale: 1 });
      }
      expect(await read()).toEqual(written);
    },
  );

  it("rejects an update by someone who is neither the author nor an admin, and lets an admin edit", async () => {
    await db.query(
      `INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${T}', '${OUTSIDER}') ON CONFLICT DO NOTHING`,
    );
    const intruder = update("hijacked", "2026-07-01T00:00:00Z", OUTSIDER);
    await deliver("content-updates", [intruder]);
    expect(await content()).toBe("newest");
    expect(await deadAs("rejected", intruder.job_id)).toBe(1);
    await db.query(`DELETE FROM tenant_users WHERE tenant_id = '${T}' AND user_id = '${OUTSIDER}'`);
    await deliver("content-updates", [update("moderated", "2026-07-02T00:00:00Z", ADMIN)]);
    expect(await content()).toBe("moderated");
  });

  it("does not let a newer unauthorised update hide an older authorised one in the same batch", async () => {
    await deliver("content-updates", [
      update("legit", "2026-08-01T00:00:00Z"),
      update("forged", "2026-08-02T00:00:00Z", OUTSIDER),
    ]);
    expect(await content()).toBe("legit");
  });

  it("updates only the named event fields, clears explicit nulls, and rejects one that breaks end >= start", async () => {
    const fields = "title, description, start_date, end_date, location_name, image_url";
    const read = async () =>
      (await db.query<Record<string, unknown>>(`SELECT ${fields} FROM events WHERE id = $1`, [EVENT]))[0];
    const before = await read();
    await deliver("content-updates", [
      editEvent({ title: "Renamed", location_name: null }, "2026-05-01T00:00:00Z"),
    ]);
    expect(await read()).toEqual({ ...before, title: "Renamed", location_name: null });
    expect(before).toMatchObject({
      description: "desc",
      location_name: "Hall",
      image_url: "https://img.example/1.png",
    });
    const bad = editEvent({ end_date: "2029-01-01T00:00:00Z" }, "2026-05-02T00:00:00Z");
    const { result, ids } = await deliver("content-updates", [bad]);
    expect(result.explicitAcks).toEqual(ids);
    expect(await deadAs("rejected", bad.job_id)).toBe(1);
    const [dead] = await db.query<{ error: string }>("SELECT error FROM dead_jobs WHERE job_id = $1", [
      bad.job_id,
    ]);
    expect(dead?.error).toBe(DENIAL_MESSAGES.end_before_start); // the enqueue API's words for it
  });

  it("tells the members who answered an event when an edit moves it, once: not its editor, members who left or muted it, nor for a new title", async () => {
    const walk = crypto.randomUUID();
    const [going, interested, muted, left] = [1, 2, 3, 4].map(
      (n) => `d1000000-0000-4000-8000-0000000000e${n}`,
    ) as [string, string, string, string];
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${going}', 'going@example.com'), ('${interested}', 'interested@example.com'),
        ('${muted}', 'muted@example.com'), ('${left}', 'left@example.com');
      INSERT INTO tenant_users (tenant_id, user_id, notification_preferences) VALUES
        ('${T}', '${going}', '{}'), ('${T}', '${interested}', '{}'),
        ('${T}', '${muted}', '{"muted_types": ["event_changed"]}');
      INSERT INTO events (id, tenant_id, created_by, title, start_date, location_name, updated_at)
        VALUES ('${walk}', '${T}', '${MEMBER}', 'Walk', '2031-03-01T09:00:00Z', 'Gate', '2020-01-01');
      INSERT INTO event_attendees (event_id, user_id, status) VALUES
        ('${walk}', '${going}', 'going'), ('${walk}', '${interested}', 'interested'), ('${walk}', '${muted}', 'going'),
        ('${walk}', '${left}', 'going'), ('${walk}', '${MEMBER}', 'going');`);
    const edit = (updates: Record<string, unknown>, at: string) =>
      job("update_content", {
        tenant_id: T,
        user_id: MEMBER,
        created_at: at,
        payload: { content_type: "events", content_id: walk, updates } as never,
      });
    const told = () =>
      db.query<{
        job_id: string;
        user_id: string;
        type: string;
        message: string;
        data: Record<string, unknown>;
      }>(
        "SELECT job_id, user_id, type, message, data FROM notifications WHERE data->>'event_id' = $1 ORDER BY created_at, user_id",
        [walk],
      );
    const moved = edit({ start_date: "2031-03-02T09:00:00Z" }, "2026-05-01T00:00:00Z");
    await deliver("content-updates", [moved]);
    const expected = [going, interested].sort().map((user_id) => ({
      job_id: moved.job_id,
      user_id,
      type: "event_changed",
      message: "The event you answered has a new time",
      data: {
        event_id: walk,
        start_date: "2031-03-02T09:00:00+00:00",
        end_date: null,
        location_name: "Gate",
      },
    }));
    expect(await told()).toEqual(expected);
    // Redelivered: the edit is not applied again, and no one is told again.
    await deliver("content-updates", [moved], {}, 2);
    expect(await told()).toEqual(expected);
    // A new title or description moves nothing; a new place does.
    await deliver("content-updates", [
      edit({ title: "Dawn walk", description: "early" }, "2026-05-02T00:00:00Z"),
    ]);
    expect(await told()).toHaveLength(2);
    const placed = edit(
      { location_name: "Bridge", end_date: "2031-03-02T11:00:00Z" },
      "2026-05-03T00:00:00Z",
    );
    await deliver("content-updates", [placed]);
    expect((await told()).slice(2)).toEqual(
      [going, interested].sort().map((user_id) =>
        expect.objectContaining({
          job_id: placed.job_id,
          user_id,
          message: "The event you answered has a new time and place",
          data: expect.objectContaining({ location_name: "Bridge", end_date: "2031-03-02T11:00:00+00:00" }),
        }),
      ),
    );
    // Moved into the past, it is over: no one is told of it.
    await deliver("content-updates", [
      edit({ start_date: "2020-03-01T09:00:00Z", end_date: "2020-03-01T11:00:00Z" }, "2026-05-04T00:00:00Z"),
    ]);
    expect(await told()).toHaveLength(4);
  });

  it("in a batch, refuses the newest event edit that breaks end >= start and applies the older allowed one, as with any refused edit; other items are written", async () => {
    const older = editEvent({ title: "Older" }, "2026-09-01T00:00:00Z");
    const bad = editEvent({ end_date: "2029-01-01T00:00:00Z" }, "2026-09-02T00:00:00Z");
    const post = update("batched", "2026-09-03T00:00:00Z");
    const { result, ids } = await deliver("content-updates", [older, bad, post]);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    const [row] = await db.query<{ title: string }>("SELECT title FROM events WHERE id = $1", [EVENT]);
    expect(row?.title).toBe("Older");
    expect(await content()).toBe("batched");
    const dead = await db.query<{ job_id: string }>(
      "SELECT job_id FROM dead_jobs WHERE job_id = ANY($1) AND kind = 'rejected'",
      [[older.job_id, bad.job_id, post.job_id]],
    );
    expect(dead.map((d) => d.job_id)).toEqual([bad.job_id]);
  });

  it("when the database refuses one notification's or event's row, rejects that job and writes the rest of its batch", async () => {
    // Constraints of this test's database only, standing in for a row the validation let through
    // and the database refuses.
    await db.query(`
      ALTER TABLE notifications ADD CONSTRAINT test_no_poison CHECK (title <> 'poison');
      ALTER TABLE analytics_events ADD CONSTRAINT test_no_poison CHECK (event_type <> 'poison');`);
    try {
      const good = notify();
      const poison = job("send_notifications", {
        tenant_id: T,
        user_id: ADMIN,
        payload: { type: "info", title: "poison", message: "m", data: {} },
      });
      const notified = await deliver("notifications", [good, poison]);
      const event = (event_type: string) =>
        job("record_analytics", { tenant_id: T, user_id: MEMBER, payload: { event_type, properties: {} } });
      const [fine, poisoned] = [event("fine"), event("poison")];
      const counted = await deliver("analytics", [fine, poisoned]);
      for (const { result, ids } of [notified, counted]) {
        expect(result.explicitAcks.sort()).toEqual([...ids].sort());
        expect(result.retryMessages).toEqual([]);
      }
      expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [good.job_id])).toBe(1);
      expect(await count("SELECT count(*) AS n FROM analytics_events WHERE job_id = $1", [fine.job_id])).toBe(
        1,
      );
      const dead = await db.query<{ job_id: string; error: string }>(
        "SELECT job_id::text, error FROM dead_jobs WHERE job_id = ANY($1) ORDER BY job_id",
        [[poison.job_id, poisoned.job_id]],
      );
      expect(dead.map((d) => d.error)).toEqual([
        "the database refused the job's data (SQLSTATE 23514)",
        "the database refused the job's data (SQLSTATE 23514)",
      ]);
      expect(await deadAs("rejected", poison.job_id)).toBe(1);
    } finally {
      await db.query(`
        ALTER TABLE notifications DROP CONSTRAINT test_no_poison;
        ALTER TABLE analytics_events DROP CONSTRAINT test_no_poison;`);
    }
  });

  it("retries, never rejects, jobs whose statement the schema does not fit (a batch worker deployed before its migration), and writes them once it is in", async () => {
    // A refusal of the statement (42703, undefined column), not of a row's data: no job is at fault.
    await db.query(`
      ALTER TABLE notifications RENAME COLUMN title TO title_pending;
      ALTER TABLE posts RENAME COLUMN content TO content_pending;`);
    const post = "e1000000-0000-4000-8000-00000000000a";
    const notes = [notify(), notify({ user_id: MEMBER })];
    const edit = job("update_content", {
      tenant_id: T,
      user_id: MEMBER,
      payload: { content_type: "posts", content_id: post, updates: { content: "after the migration" } },
    });
    try {
      await db.query(
        `INSERT INTO posts (id, tenant_id, user_id, content_pending, updated_at) VALUES ('${post}', '${T}', '${MEMBER}', 'before', '2020-01-01')`,
      );
      for (const [queue, bodies] of [
        ["notifications", notes],
        ["content-updates", [edit]],
      ] as const) {
        const { result, ids } = await deliver(queue, [...bodies]);
        expect([queue, result.explicitAcks, result.retryMessages.map((r) => r.msgId).sort()]).toEqual([
          queue,
          [],
          [...ids].sort(),
        ]);
      }
      const jobIds = [...notes, edit].map((j) => j.job_id);
      expect(await count("SELECT count(*) AS n FROM dead_jobs WHERE job_id = ANY($1)", [jobIds])).toBe(0);
    } finally {
      await db.query(`
        ALTER TABLE notifications RENAME COLUMN title_pending TO title;
        ALTER TABLE posts RENAME COLUMN content_pending TO content;`);
    }
    await deliver("notifications", notes);
    await deliver("content-updates", [edit]);
    const ids = notes.map((n) => n.job_id);
    expect(await count("SELECT count(*) AS n FROM notifications WHERE job_id = ANY($1)", [ids])).toBe(2);
    expect(
      await count("SELECT count(*) AS n FROM posts WHERE id = $1 AND content = 'after the migration'", [
        post,
      ]),
    ).toBe(1);
  });

  it("when a winning edit breaks a constraint the judging did not foresee, runs the batch job by job: that edit is rejected, the item goes to the older one, other items are written", async () => {
    // A constraint of this test's database only, standing in for what the judging cannot see
    // (an event's dates changed between the judging and the write).
    await db.query("ALTER TABLE posts ADD CONSTRAINT test_no_forbidden CHECK (content <> 'forbidden')");
    try {
      await db.query(
        "INSERT INTO events (id, tenant_id, created_by, title, start_date, updated_at) VALUES ('e1000000-0000-4000-8000-000000000077', $1, $2, 'Side', '2030-01-01', '2020-01-01')",
        [T, MEMBER],
      );
      const older = update("allowed older", "2026-10-01T00:00:00Z");
      const breaking = update("forbidden", "2026-10-02T00:00:00Z");
      const side = job("update_content", {
        tenant_id: T,
        user_id: MEMBER,
        created_at: "2026-10-03T00:00:00Z",
        payload: {
          content_type: "events",
          content_id: "e1000000-0000-4000-8000-000000000077",
          updates: { title: "Side edit" },
        },
      });
      const { result, ids } = await deliver("content-updates", [older, breaking, side]);
      expect(result.explicitAcks.sort()).toEqual([...ids].sort());
      expect(await content()).toBe("allowed older");
      const [event] = await db.query<{ title: string }>(
        "SELECT title FROM events WHERE id = 'e1000000-0000-4000-8000-000000000077'",
      );
      expect(event?.title).toBe("Side edit");
      const dead = await db.query<{ job_id: string; error: string }>(
        "SELECT job_id, error FROM dead_jobs WHERE job_id = ANY($1) AND kind = 'rejected'",
        [[older.job_id, breaking.job_id, side.job_id]],
      );
      expect(dead).toEqual([
        { job_id: breaking.job_id, error: "the database refused the job's data (SQLSTATE 23514)" },
      ]);
    } finally {
      await db.query("ALTER TABLE posts DROP CONSTRAINT test_no_forbidden");
    }
  });

  it("run job by job, settles the other items as a whole batch would: same-instant edits by job id, past a newer one its sender may not make", async () => {
    await db.query("ALTER TABLE posts ADD CONSTRAINT test_no_forbidden CHECK (content <> 'forbidden')");
    try {
      const SIDE = "e1000000-0000-4000-8000-000000000078";
      await db.query(
        "INSERT INTO events (id, tenant_id, created_by, title, start_date, updated_at) VALUES ($1, $2, $3, 'Side', '2030-01-01', '2020-01-01')",
        [SIDE, T, MEMBER],
      );
      const retitle = (title: string, jobId: string, user = MEMBER, at = "2026-11-01T00:00:00Z") =>
        job("update_content", {
          job_id: jobId,
          tenant_id: T,
          user_id: user,
          created_at: at,
          payload: { content_type: "events", content_id: SIDE, updates: { title } },
        });
      const forbidden = update("forbidden", "2026-11-03T00:00:00Z");
      const notTheirs = retitle("not theirs", crypto.randomUUID(), OUTSIDER, "2026-11-02T00:00:00Z");
      const { result, ids, line } = await deliverLogged("content-updates", [
        forbidden,
        retitle("lower id", "e1000000-0000-4000-8000-0000000000a1"),
        retitle("higher id", "e1000000-0000-4000-8000-0000000000a2"),
        notTheirs,
      ]);
      const [side] = await db.query<{ title: string }>("SELECT title FROM events WHERE id = $1", [SIDE]);
      expect(side?.title).toBe("higher id");
      // Every job settled, none left to retry: the edit the winner superseded counts as stale.
      expect(result.explicitAcks.sort()).toEqual([...ids].sort());
      expect(line).toMatchObject({ size: 4, written: 1, stale: 1, rejected: 2, retried: 0 });
      // The database refused the forbidden edit (so the batch went job by job), the rules the other.
      const reasons = await db.query<{ job_id: string; error: string }>(
        "SELECT job_id, error FROM dead_jobs WHERE job_id = ANY($1) AND kind = 'rejected' ORDER BY error",
        [[forbidden.job_id, notTheirs.job_id]],
      );
      expect(reasons).toEqual([
        { job_id: notTheirs.job_id, error: DENIAL_MESSAGES.not_member },
        { job_id: forbidden.job_id, error: "the database refused the job's data (SQLSTATE 23514)" },
      ]);
    } finally {
      await db.query("ALTER TABLE posts DROP CONSTRAINT test_no_forbidden");
    }
  });

  it("rejects an update of content that belongs to another tenant", async () => {
    await db.query(
      `INSERT INTO users (id, email) VALUES ('d1000000-0000-4000-8000-000000000009', 'x@example.com') ON CONFLICT DO NOTHING`,
    );
    const foreign = job("update_content", {
      tenant_id: OTHER_T,
      user_id: OUTSIDER,
      payload: { content_type: "posts", content_id: POST, updates: { content: "cross-tenant" } },
    });
    await deliver("content-updates", [foreign]);
    expect(await content()).not.toBe("cross-tenant");
  });

  it("records an admin's edit of a member's post or event in the audit log, once however often it is delivered, and not an author's own", async () => {
    const [post, event] = [crypto.randomUUID(), crypto.randomUUID()];
    await db.query(
      `INSERT INTO posts (id, tenant_id, user_id, content, updated_at) VALUES ($1, '${T}', '${MEMBER}', 'draft', '2020-01-01')`,
      [post],
    );
    await db.query(
      `INSERT INTO events (id, tenant_id, created_by, title, start_date, updated_at)
       VALUES ($1, '${T}', '${MEMBER}', 'Draft', '2030-01-01T10:00:00Z', '2020-01-01')`,
      [event],
    );
    const edit = (user: string, at: string, payload: object) =>
      job("update_content", { tenant_id: T, user_id: user, created_at: at, payload: payload as never });
    const own = edit(MEMBER, "2026-07-01T00:00:01Z", {
      content_type: "posts",
      content_id: post,
      updates: { content: "mine" },
    });
    const byAdmin = edit(ADMIN, "2026-07-01T00:00:02Z", {
      content_type: "posts",
      content_id: post,
      updates: { content: "edited" },
    });
    const eventByAdmin = edit(ADMIN, "2026-07-01T00:00:03Z", {
      content_type: "events",
      content_id: event,
      updates: { title: "Renamed" },
    });
    // Superseded in its batch by the author's later edit: never applied, so never recorded.
    const superseded = edit(ADMIN, "2026-07-01T00:00:04Z", {
      content_type: "events",
      content_id: event,
      updates: { title: "Lost" },
    });
    const later = edit(MEMBER, "2026-07-01T00:00:05Z", {
      content_type: "events",
      content_id: event,
      updates: { title: "Kept" },
    });
    await deliver("content-updates", [own]);
    await deliver("content-updates", [byAdmin, eventByAdmin]);
    await deliver("content-updates", [byAdmin, eventByAdmin]);
    await deliver("content-updates", [superseded, later]);
    const recorded = await db.query(
      `SELECT action, actor_kind, actor_id, content_id, job_id, request_id FROM audit_events
        WHERE content_id = ANY ($1::uuid[]) ORDER BY action DESC`,
      [[post, event]],
    );
    expect(recorded).toEqual([
      {
        action: "post.edited",
        actor_kind: "member",
        actor_id: ADMIN,
        content_id: post,
        job_id: byAdmin.job_id,
        request_id: null,
      },
      {
        action: "event.edited",
        actor_kind: "member",
        actor_id: ADMIN,
        content_id: event,
        job_id: eventByAdmin.job_id,
        request_id: null,
      },
    ]);
  });
});

describe("dead-letter queue", () => {
  it("records a job that ran out of retries in dead_jobs, with the tries its queue gave it", async () => {
    const lost = notify({ recipient_ids: [MEMBER] });
    // The dead-letter queue's own count starts afresh; its second delivery is a second try to record.
    const { result, ids } = await deliver("jobs-dead-letter", [lost], {}, 2);
    expect(result.ackAll || result.explicitAcks.length === ids.length).toBe(true);
    const [row] = await db.query<{ kind: string; queue: string; attempts: number }>(
      "SELECT kind, queue, attempts FROM dead_jobs WHERE job_id = $1",
      [lost.job_id],
    );
    expect(row).toEqual({ kind: "exhausted", queue: "notifications", attempts: JOB_QUEUE_MAX_RETRIES + 1 });
  });

  it("records a job that comes twice in one batch once (a client's retry sent it twice, and both copies ran out of retries)", async () => {
    const twice = notify();
    const other = notify();
    const { result } = await deliver("jobs-dead-letter", [twice, other, twice]);
    expect(result.ackAll).toBe(true);
    expect(await deadAs("exhausted", twice.job_id)).toBe(1);
    expect(await deadAs("exhausted", other.job_id)).toBe(1);
    const [row] = await db.query<{ attempts: number }>("SELECT attempts FROM dead_jobs WHERE job_id = $1", [
      twice.job_id,
    ]);
    expect(row?.attempts).toBe(JOB_QUEUE_MAX_RETRIES + 1);
  });

  it("records dead letters naming an inherited property as their queue under 'unknown', with the rest of their batch", async () => {
    // A producer of a newer format may name queues this consumer does not know; these are no
    // queue of ours either, though every object answers to them.
    const odd = ["constructor", "toString", "__proto__"].map((queue, i) => ({
      v: 99,
      job_id: `00000000-0000-4000-8000-00000000dea${i}`,
      queue,
      note: "inherited-queue",
    }));
    const dead = await deliver("jobs-dead-letter", [...odd, notify()]);
    expect(dead.result.ackAll).toBe(true);
    const kept = await db.query<{ queue: string }>(
      "SELECT queue FROM dead_jobs WHERE message->>'note' = 'inherited-queue'",
    );
    expect(kept).toEqual(odd.map(() => ({ queue: "unknown" })));
  });

  it("records dead letters that are no JSON data with the rest of their batch: a bigint as its digits, a cycle cut", async () => {
    const big = { ...notify(), count: 7n };
    const looped = notify();
    const cyclic: Record<string, unknown> = { ...looped };
    cyclic.self = cyclic;
    const dead = await deliver("jobs-dead-letter", [big, cyclic, notify()]);
    expect(dead.result.ackAll).toBe(true);
    const kept = await db.query<{ job_id: string; count: unknown; self: unknown }>(
      "SELECT job_id::text, message->'count' AS count, message->'self' AS self FROM dead_jobs WHERE job_id = ANY($1)",
      [[big.job_id, looped.job_id]],
    );
    expect(Object.fromEntries(kept.map(({ job_id, ...rest }) => [job_id, rest]))).toEqual({
      [big.job_id]: { count: "7", self: null },
      [looped.job_id]: { count: null, self: "[circular]" },
    });
  });

  it("keeps no job of an erased user on record: refused or exhausted, it is acked and dropped; a malformed one is kept", async () => {
    const ERASED = "d1000000-0000-4000-8000-0000000000ee";
    const refused = notify({ user_id: ERASED });
    const exhausted = notify({ user_id: ERASED });
    const malformed = { ...notify({ user_id: ERASED }), operation: "nonsense" };
    const consumed = await deliver("notifications", [refused, malformed]);
    const dead = await deliver("jobs-dead-letter", [exhausted]);
    expect(consumed.result.explicitAcks.sort()).toEqual([...consumed.ids].sort());
    expect(dead.result.ackAll || dead.result.explicitAcks.length === 1).toBe(true);
    expect(
      await count("SELECT count(*) AS n FROM dead_jobs WHERE job_id = ANY($1)", [
        [refused.job_id, exhausted.job_id],
      ]),
    ).toBe(0);
    expect(await deadAs("invalid", malformed.job_id)).toBe(1);
  });

  it("keeps no job of a user whose erasure commits while it is being recorded: the batch waits, is retried, and then leaves it out", async () => {
    const LEAVING = "d1000000-0000-4000-8000-0000000000ef";
    await db.query(`INSERT INTO users (id, email) VALUES ('${LEAVING}', 'leaving@example.com')`);
    const exhausted = notify({ user_id: LEAVING });
    // The user's erasure, not yet committed: it holds the user's row.
    await inSession(db, async (erasure) => {
      await erasure.query("BEGIN");
      await erasure.query("DELETE FROM users WHERE id = $1", [LEAVING]);
      let done = false;
      const first = deliver("jobs-dead-letter", [exhausted]).finally(() => {
        done = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(done).toBe(false); // the dead job's foreign-key check waits for the erasure
      await erasure.query("COMMIT");
      const retried = await first;
      expect(retried.result.retryMessages.map((r) => r.msgId)).toEqual(retried.ids);
    });
    const again = await deliver("jobs-dead-letter", [exhausted], {}, 2);
    expect(again.result.ackAll || again.result.explicitAcks.length === 1).toBe(true);
    expect(await count("SELECT count(*) AS n FROM dead_jobs WHERE job_id = $1", [exhausted.job_id])).toBe(0);
  });

  it("records the user a dead job names, so the user's erasure finds it", async () => {
    const rejected = notify({ user_id: OUTSIDER });
    const malformed = { ...notify({ user_id: MEMBER.toUpperCase() }), operation: "nonsense" };
    const nobody = { ...notify(), user_id: "not-a-uuid", operation: "nonsense" };
    await deliver("notifications", [rejected, malformed, nobody]);
    const rows = await db.query<{ job_id: string; user_id: string | null }>(
      "SELECT job_id, user_id FROM dead_jobs WHERE job_id = ANY($1) ORDER BY job_id",
      [[rejected.job_id, malformed.job_id, nobody.job_id]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.job_id, r.user_id]))).toEqual({
      [rejected.job_id]: OUTSIDER,
      [malformed.job_id]: MEMBER,
      [nobody.job_id]: null,
    });
  });

  it("outlasts a database outage: backs off up to an hour, and on its last delivery goes back on its queue, to be on record once the database is back", async () => {
    // The queue's own consumer records what is sent to it, into the project's database.
    const e2e = endToEndDatabase();
    const sender = crypto.randomUUID();
    const community = crypto.randomUUID();
    await e2e.query("INSERT INTO users (id, email) VALUES ($1, $2)", [sender, `${sender}@example.com`]);
    // Of a community that exists there: a dead job of one that does not (erased) is not recorded.
    await e2e.query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, 'Outage')", [
      community,
      `outage-${community.slice(0, 8)}`,
    ]);
    const down = { LOCAL_DB_PROXY: UNREACHABLE_PROXY };
    const errors = vi.spyOn(console, "error");
    try {
      const job = { ...notify({ user_id: sender }), tenant_id: community };
      const first = await deliver("jobs-dead-letter", [job], down, 1);
      expect(first.result.explicitAcks).toEqual([]);
      expect([...first.delays.values()]).toEqual([60]);
      expect([...(await deliver("jobs-dead-letter", [job], down, 9)).delays.values()]).toEqual([3600]);

      const last = await deliver("jobs-dead-letter", [job], down, DEAD_LETTER_MAX_RETRIES);
      expect([last.result.explicitAcks, last.result.retryMessages]).toEqual([last.ids, []]);
      const lines = loggedLines(errors);
      expect(
        lines.find((l) => String(l.msg).startsWith("dead letters sent to their queue again"))?.job_ids,
      ).toEqual([job.job_id]);
      expect(lines.filter((l) => "job" in l)).toEqual([]); // nothing left to the log alone
      await eventually(
        async () =>
          (await e2e.query("SELECT 1 FROM dead_jobs WHERE job_id = $1 AND kind = 'exhausted'", [job.job_id]))
            .length === 1,
      );
    } finally {
      errors.mockRestore();
    }
  });

  it("logs a dead letter whole on its last delivery when it cannot go back on its queue either (no binding)", async () => {
    const errors = vi.spyOn(console, "error");
    try {
      const job = notify();
      const last = await deliver(
        "jobs-dead-letter",
        [job],
        { LOCAL_DB_PROXY: UNREACHABLE_PROXY, DEAD_LETTER_QUEUE: undefined },
        DEAD_LETTER_MAX_RETRIES,
      );
      expect(last.result.retryMessages.map((r) => r.msgId)).toEqual(last.ids);
      const lines = loggedLines(errors);
      expect(
        lines.find((l) => l.msg === "dead letters could not be sent to their queue again")?.failed,
      ).toEqual([expect.objectContaining({ job_id: job.job_id })]);
      expect(lines.filter((l) => l.job_id === job.job_id).map((l) => l.job)).toEqual([
        JSON.parse(JSON.stringify(job)),
      ]);
    } finally {
      errors.mockRestore();
    }
  });
});

/**
 * Batches of jobs damaged at random, each field kept, dropped or replaced by a value a producer
 * could send by mistake (v8, Queues' default content type, carries bigints, Maps, Dates and
 * cycles; JSON carries the rest). The database is up, so only a message of a newer format than
 * the consumer reads may be retried (its consumer is on its way); every other one is written or
 * refused and recorded. Seeded, so a failure repeats.
 */
describe("batches of damaged messages", () => {
  /** ODD_JSON, and what only v8 serialization carries: undefined, NaN, bigints, Maps, Dates, cycles. */
  function oddValue(r: Random): unknown {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    return r.pick([
      ...ODD_JSON,
      undefined,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      2n ** 64n,
      new Date(0),
      new Map([["k", 1]]),
      new Uint8Array(3),
      cyclic,
      ADMIN,
      T,
    ]);
  }

  it("never throw, and settle every message: only one of a newer format is retried, on every queue", async () => {
    const post = crypto.randomUUID();
    await db.query(
      `INSERT INTO posts (id, tenant_id, user_id, content) VALUES ($1, '${T}', '${ADMIN}', 'draft')`,
      [post],
    );
    const sound = () => [
      notify(),
      job("record_analytics", {
        tenant_id: T,
        user_id: ADMIN,
        payload: { event_type: "e", properties: { a: 1 } },
      }),
      job("update_content", {
        tenant_id: T,
        user_id: ADMIN,
        payload: { content_type: "posts", content_id: post, updates: { content: "c" } },
      }),
    ];
    const r = seeded(20261127);
    for (let round = 0; round < 200; round++) {
      const queue = r.pick(["notifications", "analytics", "content-updates", "jobs-dead-letter"]);
      const bodies = Array.from({ length: 1 + Math.floor(r.next() * 8) }, () =>
        r.next() < 0.1 ? oddValue(r) : damage(r.pick(sound()), r, () => oddValue(r)),
      );
      const { result } = await deliver(queue, bodies);
      const newer = queue === "jobs-dead-letter" ? 0 : bodies.filter(isNewerFormat).length;
      const acked = result.ackAll ? bodies.length : result.explicitAcks.length;
      expect({ round, queue, acked, retried: result.retryMessages.length }).toEqual({
        round,
        queue,
        acked: bodies.length - newer,
        retried: newer,
      });
    }
  });
});
