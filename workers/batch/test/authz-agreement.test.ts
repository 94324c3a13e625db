import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import {
  authorizeContentUpdate,
  authorizeNotification,
  checkEventDates,
  DENIAL_MESSAGES,
  type MemberRole,
} from "../../common/authz";
import type { JobMessage } from "../../common/jobs";
import { microsOf } from "../../common/time";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { job } from "../../test-support/jobs";
import worker from "../src/index";

/**
 * The consumer judges jobs inside its write statements (SQL), the enqueue API with
 * workers/common/authz.ts (TypeScript). Every combination below must get the same verdict from
 * both, so the two cannot drift apart unnoticed.
 */
let db: WorkerTestDb;
const T = "c2000000-0000-4000-8000-000000000001";
const OTHER = "c2000000-0000-4000-8000-000000000002";
const INACTIVE = "c2000000-0000-4000-8000-000000000003";
const u = (n: number) => `d2000000-0000-4000-8000-00000000000${n}`;
const USERS = { admin: u(1), owner: u(2), member: u(3), outsider: u(4), lapsed: u(5) };
const p = (n: number) => `e2000000-0000-4000-8000-00000000000${n}`;

/** Who belongs where; the lapsed user is a member of an inactive community only. */
const ROLES: Record<string, Record<string, MemberRole>> = {
  [T]: {
    [USERS.admin]: { role: "member", is_admin: true },
    [USERS.owner]: { role: "owner", is_admin: false },
    [USERS.member]: { role: "member", is_admin: false },
  },
  [OTHER]: { [USERS.outsider]: { role: "admin", is_admin: false } },
  [INACTIVE]: { [USERS.lapsed]: { role: "admin", is_admin: true } },
};
const ACTIVE = new Set([T, OTHER]);
const roleOf = (tenant: string, user: string) => (ACTIVE.has(tenant) ? ROLES[tenant]?.[user] : undefined);

/** Posts and events by id: tenant, author (an event's created_by, which may be unset), deleted. */
type Item = { kind: "posts" | "events"; tenant: string; author: string | null; deleted: boolean };
const CONTENT: Record<string, Item> = {
  [p(1)]: { kind: "posts", tenant: T, author: USERS.member, deleted: false },
  [p(2)]: { kind: "posts", tenant: T, author: USERS.admin, deleted: false },
  [p(3)]: { kind: "posts", tenant: OTHER, author: USERS.outsider, deleted: false },
  [p(4)]: { kind: "posts", tenant: T, author: USERS.member, deleted: true },
  [p(5)]: { kind: "events", tenant: T, author: USERS.member, deleted: false },
  [p(6)]: { kind: "events", tenant: T, author: null, deleted: false },
  [p(7)]: { kind: "events", tenant: OTHER, author: USERS.outsider, deleted: false },
  [p(8)]: { kind: "events", tenant: T, author: USERS.member, deleted: true },
};
const MISSING = p(9);
const itemsOf = (kind: Item["kind"]) => Object.entries(CONTENT).filter(([, item]) => item.kind === kind);

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  const values = (rows: string[]) => rows.join(", ");
  await db.query(`
    INSERT INTO tenants (id, slug, name, is_active) VALUES
      ('${T}', 'judge', 'Judge', true), ('${OTHER}', 'judge-other', 'Other', true),
      ('${INACTIVE}', 'judge-gone', 'Gone', false);
    INSERT INTO users (id, email) VALUES ${values(Object.values(USERS).map((id) => `('${id}', '${id}@example.com')`))};
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES ${values(
      Object.entries(ROLES).flatMap(([tenant, users]) =>
        Object.entries(users).map(([user, m]) => `('${tenant}', '${user}', '${m.role}', ${m.is_admin})`),
      ),
    )};
    INSERT INTO posts (id, tenant_id, user_id, content, updated_at, deleted_at) VALUES ${values(
      itemsOf("posts").map(
        ([id, post]) =>
          `('${id}', '${post.tenant}', '${post.author}', 'text', '2020-01-01', ${post.deleted ? "now()" : "NULL"})`,
      ),
    )};
    INSERT INTO events (id, tenant_id, created_by, title, start_date, updated_at, deleted_at) VALUES ${values(
      itemsOf("events").map(
        ([id, event]) =>
          `('${id}', '${event.tenant}', ${event.author ? `'${event.author}'` : "NULL"}, 'Meetup', '2030-01-01', '2020-01-01', ${event.deleted ? "now()" : "NULL"})`,
      ),
    )};
  `);
});

/** Delivers the jobs as one batch and returns each job's rejection message, or null. */
async function verdicts(queue: string, jobs: JobMessage[]): Promise<Map<string, string | null>> {
  const batch = createMessageBatch(
    queue,
    jobs.map((body, i) => ({ id: `judge-${queue}-${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, DATABASE_URL: db.url }, ctx);
  const result = await getQueueResult(batch, ctx);
  expect(result.explicitAcks).toHaveLength(jobs.length);
  const dead = await db.query<{ job_id: string; error: string }>(
    "SELECT job_id, error FROM dead_jobs WHERE kind = 'rejected' AND job_id = ANY($1)",
    [jobs.map((j) => j.job_id)],
  );
  const errors = new Map(dead.map((d) => [d.job_id, d.error]));
  return new Map(jobs.map((j) => [j.job_id, errors.get(j.job_id) ?? null]));
}

const message = (denial: keyof typeof DENIAL_MESSAGES | null) => (denial ? DENIAL_MESSAGES[denial] : null);
const senders = [
  ...Object.values(USERS).map((user) => ({ tenant: T, user })),
  { tenant: INACTIVE, user: USERS.lapsed },
];

describe("the consumer and the enqueue API judge alike", () => {
  it("notifications: every sender with every kind of recipient list", async () => {
    const cases = senders.flatMap(({ tenant, user }) =>
      [undefined, [USERS.member], [USERS.admin, USERS.member], [USERS.outsider], [user, USERS.lapsed]].map(
        (recipient_ids) =>
          job("send_notifications", {
            tenant_id: tenant,
            user_id: user,
            payload: { type: "t", title: "T", message: "M", data: {}, recipient_ids },
          }),
      ),
    );
    const got = await verdicts("notifications", cases);
    for (const c of cases) {
      const recipients = c.payload.recipient_ids ?? [c.user_id];
      const expected = authorizeNotification(
        c.user_id,
        roleOf(c.tenant_id, c.user_id),
        recipients,
        (r) => roleOf(c.tenant_id, r) !== undefined,
      );
      expect({ job: c.job_id, verdict: got.get(c.job_id) }).toEqual({
        job: c.job_id,
        verdict: message(expected),
      });
    }
  });

  it("analytics: members of active communities only", async () => {
    const cases = senders.map(({ tenant, user }) =>
      job("record_analytics", {
        tenant_id: tenant,
        user_id: user,
        payload: { event_type: "judge", properties: {} },
      }),
    );
    const got = await verdicts("analytics", cases);
    for (const c of cases) {
      const expected = roleOf(c.tenant_id, c.user_id) ? null : "not_member";
      expect({ job: c.job_id, verdict: got.get(c.job_id) }).toEqual({
        job: c.job_id,
        verdict: message(expected),
      });
    }
  });

  it("content updates: every actor on every kind of post and event", async () => {
    let second = 0;
    const targets = [
      ...Object.entries(CONTENT).map(([id, item]) => ({ id, kind: item.kind })),
      { id: MISSING, kind: "posts" as const },
      { id: MISSING, kind: "events" as const },
      // Live items named with the other kind: a post's id is no event, and the reverse.
      { id: p(1), kind: "events" as const },
      { id: p(5), kind: "posts" as const },
    ];
    const cases = senders.flatMap(({ tenant, user }) =>
      targets.map(({ id, kind }) =>
        job("update_content", {
          tenant_id: tenant,
          user_id: user,
          // Distinct times: which allowed job wins an item does not matter here, only who is refused.
          created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, ++second)).toISOString(),
          payload:
            kind === "posts"
              ? { content_type: "posts", content_id: id, updates: { content: `by ${user}` } }
              : { content_type: "events", content_id: id, updates: { title: `by ${user}` } },
        }),
      ),
    );
    const got = await verdicts("content-updates", cases);
    for (const c of cases) {
      const item = CONTENT[c.payload.content_id];
      const live = item && item.kind === c.payload.content_type && !item.deleted ? item : undefined;
      const expected = authorizeContentUpdate(
        c.user_id,
        roleOf(c.tenant_id, c.user_id),
        live ? { tenant_id: live.tenant, author: live.author } : undefined,
        c.tenant_id,
      );
      expect({ job: c.job_id, verdict: got.get(c.job_id) }).toEqual({
        job: c.job_id,
        verdict: message(expected),
      });
    }
  });
  it("event dates: every actor, every kind of date edit, against the dates the event keeps", async () => {
    const DATED = "e2000000-0000-4000-8000-000000000010";
    const start = "2030-01-01T00:00:00Z";
    const end = "2030-01-01T03:00:00Z";
    const SUB_MS = "e2000000-0000-4000-8000-000000000011";
    const subMsStart = "2030-01-01T00:00:00.000500Z";
    for (const [id, from, to] of [
      [DATED, start, end],
      [SUB_MS, subMsStart, null],
    ]) {
      await db.query(
        "INSERT INTO events (id, tenant_id, created_by, title, start_date, end_date, updated_at) VALUES ($1, $2, $3, 'Dated', $4, $5, '2020-01-01')",
        [id, T, USERS.member, from, to],
      );
    }
    type DateEdit = { title?: string; start_date?: string; end_date?: string | null };
    const edits: { id: string; stored: { start: string; end: string | null }; updates: DateEdit }[] = [
      ...(
        [
          { end_date: "2029-12-31T00:00:00Z" }, // before the start it keeps
          { start_date: "2030-01-02T00:00:00Z" }, // after the end it keeps
          { start_date: "2030-01-02T00:00:00Z", end_date: null },
          { end_date: "2030-01-01T05:00:00Z" },
          { end_date: start }, // ends as it starts: allowed
          { start_date: end }, // starts as it ends: allowed
          { title: "Renamed" },
        ] as DateEdit[]
      ).map((updates) => ({ id: DATED, stored: { start, end }, updates })),
      { id: p(5), stored: { start, end: null }, updates: { start_date: "2031-01-01T00:00:00Z" } },
      // A fraction of a millisecond apart, as Postgres keeps times: after the start, and before it;
      // and past the microsecond (as Go and Java write times), which Postgres rounds: to the
      // start, and to a microsecond before it.
      ...[
        { end_date: "2030-01-01T00:00:00.000600Z" },
        { end_date: "2030-01-01T00:00:00.000400Z" },
        { end_date: "2030-01-01T00:00:00.000499600Z" },
        { end_date: "2030-01-01T00:00:00.0004994Z" },
      ].map((updates) => ({ id: SUB_MS, stored: { start: subMsStart, end: null }, updates })),
    ];
    let second = 0;
    const cases = senders.flatMap(({ tenant, user }) =>
      edits.map(({ id, updates }) =>
        job("update_content", {
          tenant_id: tenant,
          user_id: user,
          created_at: new Date(Date.UTC(2026, 1, 1, 0, 0, ++second)).toISOString(),
          payload: { content_type: "events", content_id: id, updates },
        }),
      ),
    );
    const got = await verdicts("content-updates", cases);
    cases.forEach((c, i) => {
      const edit = edits[i % edits.length];
      if (!edit) throw new Error("no edit");
      const expected =
        authorizeContentUpdate(
          c.user_id,
          roleOf(c.tenant_id, c.user_id),
          { tenant_id: T, author: USERS.member },
          c.tenant_id,
        ) ??
        checkEventDates(
          {
            startUs: microsOf(edit.stored.start),
            endUs: edit.stored.end ? microsOf(edit.stored.end) : null,
          },
          edit.updates,
        );
      expect({ job: c.job_id, verdict: got.get(c.job_id) }).toEqual({
        job: c.job_id,
        verdict: message(expected),
      });
    });
    // Refusals for dates happened, so the comparison above held for them too.
    expect([...got.values()].filter((v) => v === DENIAL_MESSAGES.end_before_start).length).toBeGreaterThan(0);
  });
});
