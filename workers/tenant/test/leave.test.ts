import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../../common/errors";
import { useWorkerTestDatabase, type WorkerTestDb, whileUncommitted } from "../../test-support/db";
import { requestAs } from "../../test-support/requests";
import { signToken } from "../../test-support/tokens";
import worker from "../src/index";

let db: WorkerTestDb;
const tid = (n: number) => `a5200000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const uid = (n: number) => `b5200000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const OFF = tid(9); // inactive

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name, is_active)
    SELECT ('a5200000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'leave-' || g, 'Leave ' || g, g <> 9
      FROM generate_series(1, 9) g;
    INSERT INTO users (id, email)
    SELECT ('b5200000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'leave' || g || '@example.com'
      FROM generate_series(1, 9) g;
  `);
});

const call = (method: string, path: string, user: string, tenant = "leave-1") =>
  requestAs(
    worker,
    { method, path, who: user, host: `${tenant}.localhost` },
    { DATABASE_URL: db.url, MEMBERSHIP_REDELETE_SECONDS: "0.01" },
  );

const leave = (user: string, tenant: string) => call("DELETE", `/v1/me/communities/${tenant}`, user);

const join = (tenant: string, user: string, role = "member", isAdmin = false) =>
  db.query("INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES ($1, $2, $3, $4)", [
    tenant,
    user,
    role,
    isAdmin,
  ]);

const membersOf = async (tenant: string) =>
  (
    await db.query<{ user_id: string }>(
      "SELECT user_id FROM tenant_users WHERE tenant_id = $1 ORDER BY user_id",
      [tenant],
    )
  ).map((r) => r.user_id);

const errorOf = async (res: Response) => [res.status, ((await res.json()) as ErrorBody).error.code];

describe("DELETE /v1/me/communities/{tenant_id}", () => {
  it("takes the caller out at once: the context, the list, the feed and posting all see it in this isolate", async () => {
    await join(tid(1), uid(1));
    await join(tid(1), uid(9), "owner");
    await db.query("INSERT INTO posts (tenant_id, user_id, content) VALUES ($1, $2, 'members only')", [
      tid(1),
      uid(9),
    ]);
    const feed = async () =>
      ((await (await call("GET", "/v1/feed", uid(1))).json()) as { items: { content: string }[] }).items;
    expect((await feed()).map((p) => p.content)).toEqual(["members only"]);
    // Cached now, as the context caches a membership.
    expect(await (await call("GET", "/v1/context", uid(1))).json()).toMatchObject({ user: { id: uid(1) } });
    const res = await leave(uid(1), tid(1));
    expect([res.status, res.headers.get("cache-control")]).toEqual([204, "private, no-store"]);
    expect(await membersOf(tid(1))).toEqual([uid(9)]);
    expect(await (await call("GET", "/v1/context", uid(1))).json()).toMatchObject({ user: null });
    const mine = (await (await call("GET", "/v1/me/communities", uid(1))).json()) as {
      communities: unknown[];
    };
    expect(mine.communities).toEqual([]);
    expect(await feed()).toEqual([]);
    const ctx = createExecutionContext();
    const post = await worker.fetch(
      new Request("http://leave-1.localhost/v1/posts", {
        method: "POST",
        headers: {
          authorization: `Bearer ${await signToken({ sub: uid(1) })}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ content: "still here?" }),
      }),
      { ...env, DATABASE_URL: db.url },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(await errorOf(post)).toEqual([403, "forbidden"]);
  });

  it("answers 404 for a community that is not the caller's, or not active, and changes nothing", async () => {
    await join(OFF, uid(2));
    expect(await errorOf(await leave(uid(2), tid(2)))).toEqual([404, "not_found"]);
    expect(await errorOf(await leave(uid(2), OFF))).toEqual([404, "not_found"]);
    expect(await membersOf(OFF)).toEqual([uid(2)]);
  });

  it("keeps the last admin in, by role or by flag, and lets one go while another admin stays", async () => {
    await join(tid(3), uid(3), "admin");
    await join(tid(3), uid(4), "member", true);
    await join(tid(3), uid(5));
    expect((await leave(uid(3), tid(3))).status).toBe(204);
    const last = await leave(uid(4), tid(3));
    expect(await errorOf(last.clone())).toEqual([409, "conflict"]);
    expect(((await last.json()) as ErrorBody).error.message).toMatch(/last admin/);
    expect(await membersOf(tid(3))).toEqual([uid(4), uid(5)]);
    // An ordinary member may always go.
    expect((await leave(uid(5), tid(3))).status).toBe(204);
  });

  it("keeps one of two last admins leaving at once: the one that waited sees the other gone", async () => {
    // Both admins, no owners: the last-owner rule (0031) would refuse an owner without the race.
    await join(tid(4), uid(6), "admin");
    await join(tid(4), uid(7), "admin");
    const other = "SELECT private.manage_member($1, $2, $2, NULL, ARRAY['owner', 'admin'])";
    const second = await whileUncommitted(db, other, [tid(4), uid(6)], () => leave(uid(7), tid(4)));
    expect([second.status, (second.body as ErrorBody).error.code]).toEqual([409, "conflict"]);
    expect(await membersOf(tid(4))).toEqual([uid(7)]);
  });
});
