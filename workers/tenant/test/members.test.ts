import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_ROLES } from "../../common/authz";
import { openHttpDb } from "../../common/db";
import type { ErrorBody } from "../../common/errors";
import {
  planNodes,
  rowsReadOf,
  rowsScanned,
  useWorkerTestDatabase,
  type WorkerTestDb,
  whileUncommitted,
} from "../../test-support/db";
import { requestAs } from "../../test-support/requests";
import { membersQuery } from "../src/auth/membership";
import worker from "../src/index";

let db: WorkerTestDb;
const tid = (n: number) => `a5300000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const uid = (n: number) => `b5300000-0000-4000-8000-${String(n).padStart(12, "0")}`;

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name)
    SELECT ('a5300000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'members-' || g, 'Members ' || g
      FROM generate_series(1, 11) g;
    INSERT INTO users (id, email, display_name)
    SELECT ('b5300000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'members' || g || '@example.com',
           'Member ' || g
      FROM generate_series(1, 40) g;
  `);
});

const call = (method: string, path: string, user: string, tenant: number, body?: unknown) =>
  requestAs(
    worker,
    { method, path, who: user, body, host: `members-${tenant}.localhost` },
    { DATABASE_URL: db.url, MEMBERSHIP_REDELETE_SECONDS: "0.01" },
  );

const setRole = (actor: string, tenant: number, target: string, role: unknown) =>
  call("PATCH", `/v1/members/${target}`, actor, tenant, { role });
const remove = (actor: string, tenant: number, target: string) =>
  call("DELETE", `/v1/members/${target}`, actor, tenant);

const join = (tenant: number, user: string, role = "member", isAdmin = false) =>
  db.query("INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES ($1, $2, $3, $4)", [
    tid(tenant),
    user,
    role,
    isAdmin,
  ]);

const rolesOf = async (tenant: number) =>
  Object.fromEntries(
    (
      await db.query<{ user_id: string; role: string; is_admin: boolean }>(
        "SELECT user_id, role, is_admin FROM tenant_users WHERE tenant_id = $1",
        [tid(tenant)],
      )
    ).map((r) => [r.user_id, r.is_admin ? `${r.role}+flag` : r.role]),
  );

const errorOf = async (res: Response) => [res.status, ((await res.json()) as ErrorBody).error.code];

/** The caller as the context sees them: through the membership cache. */
const contextUser = async (user: string, tenant: number) =>
  ((await (await call("GET", "/v1/context", user, tenant)).json()) as { user: { role: string } | null }).user;

describe("GET /v1/members", () => {
  it("shows members each other's names and roles, never emails, a page at a time", async () => {
    await join(1, uid(1), "owner");
    await join(1, uid(2), "moderator");
    await join(1, uid(3), "member", true);
    await join(1, uid(4));
    const first = await call("GET", "/v1/members?limit=3", uid(4), 1);
    expect([first.status, first.headers.get("cache-control")]).toEqual([200, "private, no-store"]);
    const page = (await first.json()) as { members: Record<string, unknown>[]; next_cursor: string };
    const unsaid = { expertise_level: null, interests: [] };
    expect(page.members).toEqual([
      { user_id: uid(1), display_name: "Member 1", role: "owner", is_admin: false, ...unsaid },
      { user_id: uid(2), display_name: "Member 2", role: "moderator", is_admin: false, ...unsaid },
      { user_id: uid(3), display_name: "Member 3", role: "member", is_admin: true, ...unsaid },
    ]);
    expect(JSON.stringify(page)).not.toContain("@example.com");
    const next = await call("GET", `/v1/members?limit=3&cursor=${page.next_cursor}`, uid(4), 1);
    expect(await next.json()).toEqual({
      members: [{ user_id: uid(4), display_name: "Member 4", role: "member", is_admin: false, ...unsaid }],
      next_cursor: null,
    });
    const admins = (await (await call("GET", "/v1/members?admin=true", uid(4), 1)).json()) as {
      members: { user_id: string }[];
    };
    expect(admins.members.map((m) => m.user_id)).toEqual([uid(1), uid(3)]);
  });

  it("shows what members say of themselves in the community, and finds them by an interest however it is typed", async () => {
    for (const n of [25, 26, 27]) await join(10, uid(n));
    const say = async (user: string, body: unknown) => {
      const res = await call("PATCH", `/v1/me/communities/${tid(10)}`, user, 10, body);
      return [res.status, await res.json()];
    };
    expect(
      await say(uid(25), { expertise_level: " Ten years ", interests: ["Climbing", "hiking", " CLIMBING "] }),
    ).toEqual([
      200,
      expect.objectContaining({
        tenant_id: tid(10),
        expertise_level: "Ten years",
        interests: ["climbing", "hiking"],
      }),
    ]);
    expect((await say(uid(26), { interests: ["Hiking"] }))[0]).toBe(200);
    const finding = async (interest: string, path = "/v1/members") => {
      const res = await call("GET", `${path}?interest=${encodeURIComponent(interest)}`, uid(27), 10);
      return ((await res.json()) as { members: Record<string, unknown>[] }).members;
    };
    expect(await finding("HIKING")).toEqual([
      {
        user_id: uid(25),
        display_name: "Member 25",
        role: "member",
        is_admin: false,
        expertise_level: "Ten years",
        interests: ["climbing", "hiking"],
      },
      expect.objectContaining({ user_id: uid(26), expertise_level: null, interests: ["hiking"] }),
    ]);
    expect((await finding(" climbing")).map((m) => m.user_id)).toEqual([uid(25)]);
    expect(await finding("chess")).toEqual([]);
    // What is not named stays; null clears what was said.
    expect(await say(uid(25), { interests: ["hiking", "climbing"] })).toEqual([
      200,
      expect.objectContaining({ expertise_level: "Ten years", interests: ["hiking", "climbing"] }),
    ]);
    expect(await say(uid(25), { expertise_level: null })).toEqual([
      200,
      expect.objectContaining({ expertise_level: null, interests: ["hiking", "climbing"] }),
    ]);
    for (const bad of [
      { interests: "hiking" },
      { interests: [""] },
      { interests: ["x".repeat(51)] },
      { interests: Array.from({ length: 31 }, (_, i) => `i${i}`) },
      { expertise_level: "" },
      { expertise_level: "x".repeat(65) },
    ]) {
      expect([JSON.stringify(bad).slice(0, 40), ...(await say(uid(25), bad))]).toEqual([
        JSON.stringify(bad).slice(0, 40),
        400,
        expect.objectContaining({ error: expect.objectContaining({ code: "validation_failed" }) }),
      ]);
    }
    const ctx = createExecutionContext();
    const operator = await worker.fetch(
      new Request(`http://api.localhost/admin/tenants/${tid(10)}/members?interest=Climbing`, {
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      }),
      { ...env, DATABASE_URL: db.url },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(await operator.json()).toEqual({
      members: [
        expect.objectContaining({
          user_id: uid(25),
          email: "members25@example.com",
          interests: ["hiking", "climbing"],
        }),
      ],
      next_cursor: null,
    });
  });

  it("refuses anyone not a member, also past the last page, and a member removed a moment ago", async () => {
    await join(2, uid(5));
    expect(await errorOf(await call("GET", "/v1/members", uid(6), 2))).toEqual([403, "forbidden"]);
    const past = await call("GET", `/v1/members?cursor=${uid(39)}`, uid(5), 2);
    expect(await past.json()).toEqual({ members: [], next_cursor: null });
    expect(await errorOf(await call("GET", `/v1/members?cursor=${uid(39)}`, uid(6), 2))).toEqual([
      403,
      "forbidden",
    ]);
    // Cached as a member, then removed behind the cache's back: the list checks in its query.
    expect(await contextUser(uid(5), 2)).toMatchObject({ role: "member" });
    await db.query("DELETE FROM tenant_users WHERE tenant_id = $1 AND user_id = $2", [tid(2), uid(5)]);
    expect(await errorOf(await call("GET", "/v1/members", uid(5), 2))).toEqual([403, "forbidden"]);
  });
});

describe("PATCH /v1/members/{user_id}", () => {
  it("lets an admin change a member's role, which the member's next request sees", async () => {
    await join(3, uid(7), "admin");
    await join(3, uid(8));
    expect(await contextUser(uid(8), 3)).toMatchObject({ role: "member" });
    const res = await setRole(uid(7), 3, uid(8), "moderator");
    expect([res.status, await res.json()]).toEqual([
      200,
      { user_id: uid(8), role: "moderator", is_admin: false },
    ]);
    expect(await contextUser(uid(8), 3)).toMatchObject({ role: "moderator", is_admin: false });
    expect((await setRole(uid(7), 3, uid(8), "admin")).status).toBe(200);
    expect(await rolesOf(3)).toEqual({ [uid(7)]: "admin", [uid(8)]: "admin" });
  });

  it("makes the role the whole say: a demoted member with the old admin flag is no admin after", async () => {
    await join(4, uid(9), "owner");
    await join(4, uid(10), "member", true);
    expect((await setRole(uid(9), 4, uid(10), "member")).status).toBe(200);
    expect(await rolesOf(4)).toEqual({ [uid(9)]: "owner", [uid(10)]: "member" });
    expect(await errorOf(await setRole(uid(10), 4, uid(9), "member"))).toEqual([403, "forbidden"]);
  });

  it("refuses members and moderators, whether or not the member they name exists", async () => {
    await join(5, uid(11), "moderator");
    await join(5, uid(12));
    await join(5, uid(13), "admin");
    for (const actor of [uid(11), uid(12)]) {
      expect(await errorOf(await setRole(actor, 5, uid(12), "admin"))).toEqual([403, "forbidden"]);
      expect(await errorOf(await setRole(actor, 5, uid(39), "admin"))).toEqual([403, "forbidden"]);
      expect(await errorOf(await remove(actor, 5, uid(13)))).toEqual([403, "forbidden"]);
    }
    // Not a member at all.
    expect(await errorOf(await setRole(uid(39), 5, uid(12), "member"))).toEqual([403, "forbidden"]);
    expect(await rolesOf(5)).toEqual({ [uid(11)]: "moderator", [uid(12)]: "member", [uid(13)]: "admin" });
  });

  it("leaves owners to owners: an admin can neither change nor remove one, nor make one", async () => {
    await join(6, uid(14), "owner");
    await join(6, uid(15), "admin");
    await join(6, uid(16));
    const refusal = await setRole(uid(15), 6, uid(14), "member");
    expect(await errorOf(refusal.clone())).toEqual([403, "forbidden"]);
    expect(((await refusal.json()) as ErrorBody).error.message).toMatch(/only an owner/);
    expect(await errorOf(await remove(uid(15), 6, uid(14)))).toEqual([403, "forbidden"]);
    expect(await errorOf(await setRole(uid(15), 6, uid(16), "owner"))).toEqual([403, "forbidden"]);
    expect(await errorOf(await setRole(uid(15), 6, uid(15), "owner"))).toEqual([403, "forbidden"]);
    // An owner may do all three.
    expect((await setRole(uid(14), 6, uid(16), "owner")).status).toBe(200);
    expect((await setRole(uid(16), 6, uid(14), "admin")).status).toBe(200);
    expect((await remove(uid(16), 6, uid(14))).status).toBe(204);
    expect(await rolesOf(6)).toEqual({ [uid(15)]: "admin", [uid(16)]: "owner" });
  });

  it("keeps the last owner from stepping down or leaving, which only operators could undo, and lets one go while another stays", async () => {
    await join(11, uid(28), "owner");
    await join(11, uid(29), "admin");
    const last = await setRole(uid(28), 11, uid(28), "admin");
    expect(await errorOf(last.clone())).toEqual([409, "conflict"]);
    expect(((await last.json()) as ErrorBody).error.message).toMatch(/without an owner/);
    expect(await errorOf(await remove(uid(28), 11, uid(28)))).toEqual([409, "conflict"]);
    const leaving = await call("DELETE", `/v1/me/communities/${tid(11)}`, uid(28), 11);
    expect(await errorOf(leaving.clone())).toEqual([409, "conflict"]);
    expect(((await leaving.json()) as ErrorBody).error.message).toMatch(/last owner/);
    expect(await rolesOf(11)).toMatchObject({ [uid(28)]: "owner", [uid(29)]: "admin" });
    // With a second owner named, either may go.
    expect((await setRole(uid(28), 11, uid(29), "owner")).status).toBe(200);
    expect((await setRole(uid(28), 11, uid(28), "admin")).status).toBe(200);
    expect(await errorOf(await remove(uid(29), 11, uid(29)))).toEqual([409, "conflict"]);
    // A community no owner was ever named for keeps working as before.
    await db.query("UPDATE tenant_users SET role = 'admin' WHERE tenant_id = $1", [tid(11)]);
    expect((await setRole(uid(29), 11, uid(29), "member")).status).toBe(200);
  });

  it("keeps the last admin from stepping down, and lets one step down while another stays", async () => {
    await join(7, uid(17), "admin");
    await join(7, uid(18));
    const last = await setRole(uid(17), 7, uid(17), "member");
    expect(await errorOf(last.clone())).toEqual([409, "conflict"]);
    expect(((await last.json()) as ErrorBody).error.message).toMatch(/without an admin/);
    expect(await errorOf(await remove(uid(17), 7, uid(17)))).toEqual([409, "conflict"]);
    expect((await setRole(uid(17), 7, uid(18), "admin")).status).toBe(200);
    expect((await setRole(uid(17), 7, uid(17), "moderator")).status).toBe(200);
    expect(await rolesOf(7)).toEqual({ [uid(17)]: "moderator", [uid(18)]: "admin" });
  });

  it("keeps one admin of two demoting each other at once: the one that waited is no admin by then", async () => {
    await join(8, uid(19), "admin");
    await join(8, uid(20), "admin");
    const first = "SELECT private.manage_member($1, $2, $3, 'member', ARRAY['owner', 'admin'])";
    const second = await whileUncommitted(db, first, [tid(8), uid(19), uid(20)], () =>
      setRole(uid(20), 8, uid(19), "member"),
    );
    expect([second.status, (second.body as ErrorBody).error.code]).toEqual([403, "forbidden"]);
    expect(await rolesOf(8)).toEqual({ [uid(19)]: "admin", [uid(20)]: "member" });
  });

  it("answers 404 for someone not a member, and 400 for a role or a field it does not take", async () => {
    await join(9, uid(21), "owner");
    expect(await errorOf(await setRole(uid(21), 9, uid(22), "member"))).toEqual([404, "not_found"]);
    expect(await errorOf(await remove(uid(21), 9, uid(22)))).toEqual([404, "not_found"]);
    expect(await errorOf(await setRole(uid(21), 9, uid(21), "superuser"))).toEqual([
      400,
      "validation_failed",
    ]);
    const extra = await call("PATCH", `/v1/members/${uid(21)}`, uid(21), 9, {
      role: "owner",
      is_admin: true,
    });
    expect(await errorOf(extra)).toEqual([400, "validation_failed"]);
    expect(await errorOf(await setRole(uid(21), 9, "not-an-id", "member"))).toEqual([
      400,
      "validation_failed",
    ]);
    expect(await rolesOf(9)).toEqual({ [uid(21)]: "owner" });
  });
});

describe("DELETE /v1/members/{user_id}", () => {
  it("lets an admin remove a member, who is out at once in this isolate", async () => {
    await join(1, uid(23));
    expect(await contextUser(uid(23), 1)).toMatchObject({ role: "member" });
    const res = await remove(uid(1), 1, uid(23));
    expect(res.status).toBe(204);
    expect(await contextUser(uid(23), 1)).toBeNull();
    expect(await errorOf(await call("GET", "/v1/members", uid(23), 1))).toEqual([403, "forbidden"]);
  });

  it("lets any member remove themselves, which is leaving", async () => {
    await join(1, uid(24), "moderator");
    expect((await remove(uid(24), 1, uid(24))).status).toBe(204);
    expect((await rolesOf(1))[uid(24)]).toBeUndefined();
  });
});

describe("a large community's admins", () => {
  // 2,000 members, its owner and admins last in user-id order: a walk of the members in that
  // order reaches them last.
  const BIG = 20;
  const [owner, admin, flagged] = [uid(2998), uid(2999), uid(3000)];
  beforeAll(async () => {
    await db.query(
      `INSERT INTO tenants (id, slug, name) VALUES ('${tid(BIG)}', 'members-20', 'Members 20');
       INSERT INTO users (id, email)
       SELECT ('b5300000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'big' || g || '@example.com'
         FROM generate_series(1001, 3000) g;
       INSERT INTO tenant_users (tenant_id, user_id, role, is_admin)
       SELECT '${tid(BIG)}', ('b5300000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
              CASE g WHEN 2998 THEN 'owner' WHEN 2999 THEN 'admin' ELSE 'member' END, g = 3000
         FROM generate_series(1001, 3000) g;
       ANALYZE tenant_users;`,
    );
  });

  it("are listed without reading the other members", async () => {
    const res = await call("GET", "/v1/members?admin=true", uid(1001), BIG);
    const { members } = (await res.json()) as { members: { user_id: string }[] };
    expect(members.map((m) => m.user_id)).toEqual([owner, admin, flagged]);
    const page = membersQuery(openHttpDb({ ...env, DATABASE_URL: db.url }), tid(BIG), {
      limit: 50,
      admin: true,
      viewer: uid(1001),
    }).toSQL();
    const read = rowsReadOf(await planNodes(db, page.sql, page.params), "tenant_users");
    expect(read).toBeLessThanOrEqual(4); // the three admins, and the viewer's membership
  });

  it("are found without reading every membership when one steps down, however often a session asks", async () => {
    // PL/pgSQL keeps a generic plan for a statement after five calls in a session: one planned
    // without the admin roles, which read every membership (db/migrations/0043).
    const outcomes: unknown[] = [];
    const read = await rowsScanned(db, "tenant_users", async (query) => {
      for (let i = 0; i < 8; i++) {
        for (const role of ["member", "admin"]) {
          const { rows } = await query("SELECT private.manage_member($1, $2, $3, $4, $5) AS outcome", [
            tid(BIG),
            owner,
            admin,
            role,
            ADMIN_ROLES,
          ]);
          outcomes.push(rows[0]?.outcome);
        }
      }
    });
    // Every change made (a refusal would stop before looking for other admins, reading nothing).
    expect(outcomes).toEqual(Array(16).fill("done"));
    // Each change reads the two memberships by key and, stepping down, the admins: some tens of
    // rows in all. A walk read at least 1,000 each time.
    expect(read).toBeLessThan(500);
  });
});
