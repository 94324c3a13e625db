import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../../common/errors";
import {
  inSession,
  planNodes,
  rowsReadOf,
  useWorkerTestDatabase,
  type WorkerTestDb,
} from "../../test-support/db";
import { requestAs } from "../../test-support/requests";
import { type AuditEntry, auditPageSql } from "../src/audit/queries";
import worker from "../src/index";
import { exportRequests } from "./export-support";

let db: WorkerTestDb;
const A = "a5800000-0000-4000-8000-000000000001";
const B = "a5800000-0000-4000-8000-000000000002";
const u = (n: number) => `b5800000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const OWNER = u(1);
const ADMIN = u(2);
const MOD = u(3);
const MEM = u(4);
const NEWBIE = u(5);
const OTHER = u(6);
const LEAVER = u(7);
const c = (n: number) => `c5800000-0000-4000-8000-${String(n).padStart(12, "0")}`;

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${A}', 'audit-a', 'Audit A'), ('${B}', 'audit-b', 'Audit B');
    INSERT INTO users (id, email, display_name)
    SELECT ('b5800000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'audit' || g || '@example.com', 'Audit ' || g
      FROM generate_series(1, 7) g;
    INSERT INTO tenant_users (tenant_id, user_id, role) VALUES
      ('${A}', '${OWNER}', 'owner'), ('${A}', '${ADMIN}', 'admin'), ('${A}', '${MOD}', 'moderator'),
      ('${A}', '${MEM}', 'member'), ('${A}', '${LEAVER}', 'member'), ('${B}', '${OTHER}', 'owner');
  `);
});

const bindings = () => ({ DATABASE_URL: db.url, MEMBERSHIP_REDELETE_SECONDS: "0.01" });

const asMember = (method: string, path: string, who: string, body?: unknown, slug = "audit-a") =>
  requestAs(worker, { method, path, who, body, host: `${slug}.localhost` }, bindings());

async function asOperator(method: string, path: string, body?: unknown): Promise<Response> {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await worker.fetch(
    new Request(`http://api.localhost/admin${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    { ...env, ...bindings() },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

interface Page {
  entries: AuditEntry[];
  next_cursor: string | null;
}

/** The whole log of a community as operators read it, newest first. */
async function operatorLog(tenant: string): Promise<AuditEntry[]> {
  const res = await asOperator("GET", `/tenants/${tenant}/audit-log?limit=200`);
  expect(res.status).toBe(200);
  return ((await res.json()) as Page).entries;
}

/** What an entry says, without its ids and times. */
const said = (e: AuditEntry) => ({
  action: e.action,
  actor: e.actor,
  member_id: e.member_id,
  content_id: e.content_id,
  changes: e.changes,
});

/** The entries written since `before` was read (the log is newest first). */
async function newEntries(tenant: string, before: AuditEntry[]): Promise<AuditEntry[]> {
  const now = await operatorLog(tenant);
  return now.slice(0, now.length - before.length);
}

const exported = async (url: string) =>
  JSON.parse(
    (
      await exportRequests(
        () => db,
        () => url,
      ).read("")
    ).body,
  ) as Record<string, { id: string }[]>;

const errorOf = async (res: Response) => [res.status, ((await res.json()) as ErrorBody).error.code];

describe("what the audit log records", () => {
  it("records an operator's tenant changes with what changed, once each, with the request's id", async () => {
    const created = await asOperator("POST", "/tenants", { slug: "audit-new", name: "New" });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const renamed = await asOperator("PATCH", `/tenants/${id}`, { name: "Renamed" });
    expect(renamed.status).toBe(200);
    // The same name again changes nothing, and a change nobody made is not recorded.
    expect((await asOperator("PATCH", `/tenants/${id}`, { name: "Renamed" })).status).toBe(200);
    expect((await asOperator("PATCH", `/tenants/${id}`, { slug: "audit-a" })).status).toBe(409);
    expect((await asOperator("DELETE", `/tenants/${id}`)).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      expect((await asOperator("POST", `/tenants/${id}/erasure`, { slug: "audit-new" })).status).toBe(202);
    }

    const log = await operatorLog(id);
    const operator = { kind: "operator", user_id: null };
    expect(log.map(said)).toEqual([
      {
        action: "tenant.erasure_requested",
        actor: operator,
        member_id: null,
        content_id: null,
        changes: null,
      },
      {
        action: "tenant.updated",
        actor: operator,
        member_id: null,
        content_id: null,
        changes: { is_active: { from: true, to: false } },
      },
      {
        action: "tenant.updated",
        actor: operator,
        member_id: null,
        content_id: null,
        changes: { name: { from: "New", to: "Renamed" } },
      },
      {
        action: "tenant.created",
        actor: operator,
        member_id: null,
        content_id: null,
        changes: {
          slug: { from: null, to: "audit-new" },
          name: { from: null, to: "New" },
          settings: { from: null, to: {} },
          is_active: { from: null, to: true },
        },
      },
    ]);
    expect(log[2]?.request_id).toBe(renamed.headers.get("x-request-id"));
    expect(log[3]?.request_id).toBe(created.headers.get("x-request-id"));
  });

  it("records operators' and admins' membership changes and a member's leaving, from and to", async () => {
    const before = await operatorLog(A);
    expect(
      (await asOperator("PUT", `/tenants/${A}/members/${NEWBIE}`, { role: "member", is_admin: false }))
        .status,
    ).toBe(200);
    // Saving what is already there changes nothing.
    expect(
      (await asOperator("PUT", `/tenants/${A}/members/${NEWBIE}`, { role: "member", is_admin: false }))
        .status,
    ).toBe(200);
    expect(
      (await asOperator("PUT", `/tenants/${A}/members/${NEWBIE}`, { role: "member", is_admin: true })).status,
    ).toBe(200);
    expect((await asMember("PATCH", `/v1/members/${NEWBIE}`, ADMIN, { role: "moderator" })).status).toBe(200);
    expect((await asMember("PATCH", `/v1/members/${NEWBIE}`, ADMIN, { role: "moderator" })).status).toBe(200);
    expect((await asMember("DELETE", `/v1/me/communities/${A}`, LEAVER)).status).toBe(204);
    expect((await asMember("DELETE", `/v1/members/${NEWBIE}`, ADMIN)).status).toBe(204);
    expect(
      (await asOperator("PUT", `/tenants/${A}/members/${NEWBIE}`, { role: "member", is_admin: false }))
        .status,
    ).toBe(200);
    expect((await asOperator("DELETE", `/tenants/${A}/members/${NEWBIE}`)).status).toBe(204);

    const operator = { kind: "operator", user_id: null };
    const admin = { kind: "member", user_id: ADMIN };
    const entry = (action: string, actor: object, member: string, changes: object) => ({
      action,
      actor,
      member_id: member,
      content_id: null,
      changes,
    });
    expect((await newEntries(A, before)).map(said)).toEqual([
      entry("member.removed", operator, NEWBIE, {
        role: { from: "member", to: null },
        is_admin: { from: false, to: null },
      }),
      entry("member.added", operator, NEWBIE, {
        role: { from: null, to: "member" },
        is_admin: { from: null, to: false },
      }),
      entry("member.removed", admin, NEWBIE, {
        role: { from: "moderator", to: null },
        is_admin: { from: false, to: null },
      }),
      entry("member.left", { kind: "member", user_id: LEAVER }, LEAVER, {
        role: { from: "member", to: null },
        is_admin: { from: false, to: null },
      }),
      entry("member.changed", admin, NEWBIE, {
        role: { from: "member", to: "moderator" },
        is_admin: { from: true, to: false },
      }),
      entry("member.changed", operator, NEWBIE, { is_admin: { from: false, to: true } }),
      entry("member.added", operator, NEWBIE, {
        role: { from: null, to: "member" },
        is_admin: { from: null, to: false },
      }),
    ]);
  });

  it("records content taken down by a moderator or admin, never an author's own deletion, nor a refused one", async () => {
    await db.query(`
      INSERT INTO posts (id, tenant_id, user_id, content) VALUES
        ('${c(1)}', '${A}', '${MEM}', 'mine to delete'), ('${c(2)}', '${A}', '${MEM}', 'taken down');
      INSERT INTO events (id, tenant_id, created_by, title, start_date) VALUES
        ('${c(3)}', '${A}', '${MEM}', 'cancelled by an admin', now() + interval '1 week');
      INSERT INTO post_comments (id, post_id, user_id, content) VALUES
        ('${c(4)}', '${c(2)}', '${MEM}', 'my own comment'), ('${c(5)}', '${c(2)}', '${OWNER}', 'a comment taken down');
    `);
    const before = await operatorLog(A);
    expect((await asMember("DELETE", `/v1/posts/${c(1)}`, MEM)).status).toBe(204);
    expect((await asMember("DELETE", `/v1/posts/${c(2)}/comments/${c(4)}`, MEM)).status).toBe(204);
    expect(await errorOf(await asMember("DELETE", `/v1/posts/${c(2)}/comments/${c(5)}`, MEM))).toEqual([
      403,
      "forbidden",
    ]);
    expect((await asMember("DELETE", `/v1/posts/${c(2)}/comments/${c(5)}`, MOD)).status).toBe(204);
    expect((await asMember("DELETE", `/v1/posts/${c(2)}`, MOD)).status).toBe(204);
    expect((await asMember("DELETE", `/v1/events/${c(3)}`, ADMIN)).status).toBe(204);

    const removed = (action: string, who: string, content: string) => ({
      action,
      actor: { kind: "member", user_id: who },
      member_id: null,
      content_id: content,
      changes: null,
    });
    expect((await newEntries(A, before)).map(said)).toEqual([
      removed("event.removed", ADMIN, c(3)),
      removed("post.removed", MOD, c(2)),
      removed("comment.removed", MOD, c(5)),
    ]);
  });
});

describe("the audit log and locks", () => {
  it("takes a member's user before their membership, as a user's erasure does, so the two cannot deadlock", async () => {
    await db.query(`INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${NEWBIE}')`);
    const changes: [string, () => Promise<Response>, number][] = [
      [
        "an operator's change",
        () => asOperator("PUT", `/tenants/${A}/members/${NEWBIE}`, { role: "moderator", is_admin: false }),
        200,
      ],
      ["an admin's change", () => asMember("PATCH", `/v1/members/${NEWBIE}`, OWNER, { role: "member" }), 200],
      ["an operator's removal", () => asOperator("DELETE", `/tenants/${A}/members/${NEWBIE}`), 204],
    ];
    for (const [what, change, status] of changes) {
      await inSession(db, async (eraser) => {
        // An erasure's first lock: its DELETE of the user, before the cascade reaches the memberships.
        await eraser.query("BEGIN");
        await eraser.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [NEWBIE]);
        let answered = false;
        const pending = change().finally(() => {
          answered = true;
        });
        await new Promise((r) => setTimeout(r, 300));
        expect(answered, what).toBe(false);
        // Waiting for the user, the change holds nothing of the membership the cascade would take.
        await inSession(db, async (cascade) => {
          await cascade.query("BEGIN");
          const free = await cascade.query(
            "SELECT 1 FROM tenant_users WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE NOWAIT",
            [A, NEWBIE],
          );
          expect(free.rows, what).toHaveLength(1);
          await cascade.query("ROLLBACK");
        });
        await eraser.query("ROLLBACK");
        expect((await pending).status, what).toBe(status);
      });
    }
  });
});

describe("GET /v1/audit-log", () => {
  it("shows the community's log to its admins, page by page, as operators see it", async () => {
    const all = await operatorLog(A);
    expect(all.length).toBeGreaterThan(3);
    const seen: AuditEntry[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const res = await asMember("GET", `/v1/audit-log?limit=2${cursor ? `&cursor=${cursor}` : ""}`, OWNER);
      expect([res.status, res.headers.get("cache-control")]).toEqual([200, "private, no-store"]);
      const page = (await res.json()) as Page;
      expect(page.entries.length).toBeLessThanOrEqual(2);
      seen.push(...page.entries);
      cursor = page.next_cursor;
    }
    expect(seen).toEqual(all);
  });

  it("refuses members who do not run the community, strangers and the anonymous, and shows no other community's", async () => {
    expect(await errorOf(await asMember("GET", "/v1/audit-log", MOD))).toEqual([403, "forbidden"]);
    expect(await errorOf(await asMember("GET", "/v1/audit-log", OTHER))).toEqual([403, "forbidden"]);
    const ctx = createExecutionContext();
    const anonymous = await worker.fetch(
      new Request("http://audit-a.localhost/v1/audit-log"),
      { ...env, ...bindings() },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(await errorOf(anonymous)).toEqual([401, "unauthorized"]);
    expect(await errorOf(await asMember("GET", "/v1/audit-log?cursor=nope", OWNER))).toEqual([
      400,
      "validation_failed",
    ]);
    // B's owner reads B's log, which A's changes are not in.
    const theirs = await asMember("GET", "/v1/audit-log", OTHER, undefined, "audit-b");
    expect(await theirs.json()).toEqual({ entries: [], next_cursor: null });
    expect(await errorOf(await asOperator("GET", `/tenants/${c(99)}/audit-log`))).toEqual([404, "not_found"]);
  });

  it("reads a page's own rows whatever the log of others, also where its community's are the oldest", async () => {
    // A short log, all older than a long one: walked along the time-ordered primary key instead
    // of the community's index, its first page would read all of the long one first.
    const [small, big] = [c(90), c(91)];
    await db.query(`
      INSERT INTO tenants (id, slug, name) VALUES ('${small}', 'audit-small', 'Small'), ('${big}', 'audit-big', 'Big');
      INSERT INTO audit_events (tenant_id, action, actor_kind)
      SELECT '${small}'::uuid, 'tenant.updated', 'operator' FROM generate_series(1, 300);
      INSERT INTO audit_events (tenant_id, action, actor_kind)
      SELECT '${big}'::uuid, 'tenant.updated', 'operator' FROM generate_series(1, 6000);
      ANALYZE audit_events;
    `);
    for (const tenant of [small, big]) {
      const [middle] = await db.query<{ id: string }>(
        "SELECT id FROM audit_events WHERE tenant_id = $1 ORDER BY id DESC OFFSET 100 LIMIT 1",
        [tenant],
      );
      for (const cursor of [null, middle?.id]) {
        // The route's own statement, as the planner would run it (nothing turned off).
        const nodes = await planNodes(db, auditPageSql("operator"), [tenant, cursor, 51], []);
        expect(rowsReadOf(nodes, "audit_events"), `${tenant} after ${cursor}`).toBe(51);
      }
    }
  });
});

describe("the audit log and erasure", () => {
  it("forgets an erased user's part but keeps the action, is in both exports, and goes with its community", async () => {
    const byAdmin = (await operatorLog(A)).filter((e) => e.actor.user_id === ADMIN);
    expect(byAdmin.length).toBeGreaterThan(0);

    const mine = await exported(`http://api.localhost/admin/users/${ADMIN}/export`);
    expect(mine.audit_log_as_actor?.map((e) => e.id).sort()).toEqual(byAdmin.map((e) => e.id).sort());
    // The member an admin removed sees it in their export, but not which admin it was.
    const removedOne = await exported(`http://api.localhost/admin/users/${NEWBIE}/export`);
    const aboutThem = removedOne.audit_log_as_member ?? [];
    expect(aboutThem.length).toBeGreaterThan(0);
    expect(aboutThem.every((e) => !("actor_id" in e) && "actor_kind" in e)).toBe(true);
    const community = await exported(`http://api.localhost/admin/tenants/${A}/export`);
    expect(community.audit_log?.length).toBe((await operatorLog(A)).length);

    await db.query("SELECT private.erase_user($1)", [ADMIN]);
    const after = await operatorLog(A);
    const kept = after.filter((e) => byAdmin.some((b) => b.id === e.id));
    expect(kept.map((e) => e.actor)).toEqual(byAdmin.map(() => ({ kind: "member", user_id: null })));
    expect(after.some((e) => e.actor.user_id === ADMIN || e.member_id === ADMIN)).toBe(false);

    await db.query("UPDATE tenants SET is_active = false, erasure_requested_at = now() WHERE id = $1", [B]);
    await db.query(
      "INSERT INTO audit_events (tenant_id, action, actor_kind) VALUES ($1, 'tenant.updated', 'operator')",
      [B],
    );
    while (
      !(await db.query<{ drained: boolean }>("SELECT * FROM private.erase_tenant_chunk($1, 1000)", [B]))[0]
        ?.drained
    ) {
      // Drains the community a chunk at a time, as the batch worker's cron does.
    }
    await db.query("SELECT private.erase_tenant($1)", [B]);
    expect(await db.query("SELECT 1 FROM audit_events WHERE tenant_id = $1", [B])).toEqual([]);
  });
});
