import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { throughPooler, useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { signToken } from "../../test-support/tokens";
import worker from "../src/index";

/**
 * Neon's pooled connection string puts a transaction-mode PgBouncer between the workers and
 * Postgres, which refuses what a direct connection takes (startup options: every admin tenant
 * write, which runs in a session, failed through it before). A tenant's life through a real one.
 */
let db: WorkerTestDb;
let pooled: ReturnType<typeof throughPooler>;
const USER = "b7000000-0000-4000-8000-000000000001";
/** Admin routes are rate-limited per client address: this file's own. */
const CLIENT_IP = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  pooled = throughPooler(db.url);
});

async function call(method: string, url: string, headers: Record<string, string>, body?: unknown) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(url, {
      method,
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    { ...env, ...pooled, MEMBERSHIP_REDELETE_SECONDS: "0.05" },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const admin = (method: string, path: string, body?: unknown) =>
  call(
    method,
    `http://api.localhost/admin${path}`,
    { authorization: `Bearer ${env.ADMIN_TOKEN}`, "cf-connecting-ip": CLIENT_IP },
    body,
  );

describe.skipIf(!env.TEST_POOLER_PROXY)(
  "through a transaction-mode pooler (PgBouncer, as Neon's -pooler endpoint)",
  () => {
    it("creates, renames and serves a tenant, and answers its member", async () => {
      const created = await admin("POST", "/tenants", { slug: "pooled", name: "Pooled" });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      expect((await admin("PATCH", `/tenants/${id}`, { slug: "pooled-renamed" })).status).toBe(200);
      expect((await admin("PUT", `/users/${USER}`, { email: "pooled@example.com" })).status).toBe(200);
      expect(
        (await admin("PUT", `/tenants/${id}/members/${USER}`, { role: "member", is_admin: false })).status,
      ).toBe(200);
      const token = await signToken({ sub: USER });
      const context = await call("GET", "http://pooled-renamed.localhost/v1/context", {
        authorization: `Bearer ${token}`,
      });
      expect([context.status, (context.body.user as { role?: string } | null)?.role]).toEqual([
        200,
        "member",
      ]);
      const feed = await call("GET", "http://pooled-renamed.localhost/v1/feed", {
        authorization: `Bearer ${token}`,
      });
      expect([feed.status, feed.body.items]).toEqual([200, []]);
      expect((await admin("DELETE", `/tenants/${id}`)).status).toBe(200);
      expect((await call("GET", "http://pooled-renamed.localhost/v1/context", {})).status).toBe(404);
    });
  },
);
