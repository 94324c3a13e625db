import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { endToEndDatabase, eventually } from "../../test-support/db";
import { signToken } from "../../test-support/tokens";
import worker from "../src/index";

/**
 * Through the real local queues: the tenant worker's producers deliver to the batch worker
 * running beside it (vitest.config.ts), which writes to this project's end-to-end database.
 */
const db = endToEndDatabase();
const T = "a9000000-0000-4000-8000-000000000001";
const ADMIN = "b9000000-0000-4000-8000-000000000001";
const AUTHOR = "b9000000-0000-4000-8000-000000000002";
const POST = "c9000000-0000-4000-8000-000000000001";

beforeAll(async () => {
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${T}', 'e2e', 'End to end') ON CONFLICT DO NOTHING;
    INSERT INTO users (id, email) VALUES ('${ADMIN}', 'e2e-admin@example.com'), ('${AUTHOR}', 'e2e-author@example.com') ON CONFLICT DO NOTHING;
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES ('${T}', '${ADMIN}', 'admin', true), ('${T}', '${AUTHOR}', 'member', false) ON CONFLICT DO NOTHING;
    INSERT INTO posts (id, tenant_id, user_id, content, updated_at) VALUES ('${POST}', '${T}', '${AUTHOR}', 'draft', '2020-01-01') ON CONFLICT DO NOTHING;
  `);
});

async function send(
  who: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  method = "POST",
) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://e2e.localhost${path}`, {
      method,
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${await signToken({ sub: who })}`,
        ...headers,
      },
      body: JSON.stringify(body),
    }),
    env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

async function enqueue(who: string, body: unknown, headers: Record<string, string> = {}, path = "/v1/jobs") {
  const res = await send(who, path, body, headers);
  expect(res.status).toBe(202);
  return ((await res.json()) as { job_id: string }).job_id;
}

const contentOf = async (post: string) =>
  (await db.query<{ content: string }>("SELECT content FROM posts WHERE id = $1", [post]))[0]?.content;

const count = async (sql: string, params: unknown[]) =>
  Number((await db.query<{ n: string }>(sql, params))[0]?.n ?? 0);

describe("enqueue -> queue -> consumer -> rows", () => {
  it("writes a notification for every recipient", async () => {
    const jobId = await enqueue(ADMIN, {
      queue: "notification",
      operation: "send_notifications",
      payload: { type: "welcome", title: "Welcome", message: "Hello both", recipient_ids: [ADMIN, AUTHOR] },
    });
    await eventually(
      async () => (await count("SELECT count(*) AS n FROM notifications WHERE job_id = $1", [jobId])) === 2,
    );
    // And the recipient reads it in their inbox, and marks it read.
    const read = async (path: string, init: RequestInit = {}) => {
      const ctx = createExecutionContext();
      const headers = new Headers(init.headers);
      headers.set("authorization", `Bearer ${await signToken({ sub: AUTHOR })}`);
      const res = await worker.fetch(
        new Request(`http://api.localhost${path}`, { ...init, headers }),
        env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return (await res.json()) as Record<string, unknown>;
    };
    const inbox = (await read("/v1/notifications?limit=100")) as {
      notifications: { id: string; message: string }[];
    };
    const mine = inbox.notifications.find((n) => n.message === "Hello both");
    expect(mine).toMatchObject({ tenant_id: T, type: "welcome", title: "Welcome", is_read: false });
    expect(
      await read("/v1/notifications/read", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ids: [mine?.id] }),
      }),
    ).toEqual({ marked: 1, more: false });
  });

  it("writes no notification of a type a member muted through the API, and the others as ever", async () => {
    const mute = (types: string[]) =>
      send(AUTHOR, `/v1/me/communities/${T}`, { notifications: { muted_types: types } }, {}, "PATCH");
    expect((await mute(["digest"])).status).toBe(200);
    try {
      const notification = (type: string, recipient_ids: string[]) => ({
        queue: "notification",
        operation: "send_notifications",
        payload: { type, title: type, message: "Hello", recipient_ids },
      });
      const digest = await enqueue(ADMIN, notification("digest", [ADMIN, AUTHOR]));
      const alert = await enqueue(ADMIN, notification("alert", [AUTHOR]));
      const to = (job: string) =>
        db.query<{ user_id: string }>("SELECT user_id FROM notifications WHERE job_id = $1", [job]);
      await eventually(async () => (await to(digest)).length === 1 && (await to(alert)).length === 1);
      expect(await to(digest)).toEqual([{ user_id: ADMIN }]);
      expect(await to(alert)).toEqual([{ user_id: AUTHOR }]);
    } finally {
      expect((await mute([])).status).toBe(200);
    }
  });

  it("writes an analytics event once even when the client retries with the same Idempotency-Key", async () => {
    const body = {
      queue: "analytics",
      operation: "record_analytics",
      payload: { event_type: "signup.done", properties: { plan: "free" } },
    };
    const first = await enqueue(AUTHOR, body, { "idempotency-key": "signup-1" });
    const second = await enqueue(AUTHOR, body, { "idempotency-key": "signup-1" });
    expect(second).toBe(first);
    await eventually(
      async () =>
        (await count("SELECT count(*) AS n FROM analytics_events WHERE job_id = $1", [first])) === 1,
    );
    await new Promise((r) => setTimeout(r, 1_500)); // let the second delivery be consumed too
    expect(await count("SELECT count(*) AS n FROM analytics_events WHERE job_id = $1", [first])).toBe(1);
  });

  it("applies the author's content update", async () => {
    await enqueue(AUTHOR, {
      queue: "content_update",
      operation: "update_content",
      payload: { content_type: "posts", content_id: POST, updates: { content: "published" } },
    });
    await eventually(async () => (await contentOf(POST)) === "published");
  });

  it("applies an edit sent the moment a post is made, though the database's clock runs ahead of the worker's", async () => {
    // The worker's clock 30 s behind the database's (and frozen, as within one request): a post
    // versioned by the database's time would take the edit, stamped by the worker, for older.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() - 30_000);
    let id: string;
    try {
      const res = await send(AUTHOR, "/v1/posts", { content: "first draft" });
      expect(res.status).toBe(201);
      ({ id } = (await res.json()) as { id: string });
      await enqueue(AUTHOR, {
        queue: "content_update",
        operation: "update_content",
        payload: { content_type: "posts", content_id: id, updates: { content: "fixed a typo" } },
      });
    } finally {
      // The real clock again before waiting: eventually's deadline reads it.
      vi.useRealTimers();
    }
    await eventually(async () => (await contentOf(id)) === "fixed a typo");
  });

  it.each([
    ["", {}],
    [" sent with an Idempotency-Key", { "idempotency-key": `many-edits-${crypto.randomUUID()}` }],
  ])("applies the last of several edits of one post in one request%s", async (_, headers) => {
    // A client sending the edits it made offline: the request's order is the order they were made
    // in. Jobs of one request share its time, and equal times were ordered by job id, at random.
    const post = crypto.randomUUID();
    await db.query(
      "INSERT INTO posts (id, tenant_id, user_id, content, updated_at) VALUES ($1, $2, $3, 'draft', '2020-01-01')",
      [post, T, AUTHOR],
    );
    const edits = Array.from({ length: 12 }, (_, i) => `edit ${i + 1}`);
    const jobs = edits.map((content) => ({
      queue: "content_update",
      operation: "update_content",
      payload: { content_type: "posts", content_id: post, updates: { content } },
    }));
    await enqueue(AUTHOR, { jobs }, headers, "/v1/jobs/batch");
    await eventually(async () => (await contentOf(post)) !== "draft");
    await eventually(async () => (await contentOf(post)) === "edit 12", 3_000);
  });
});
