import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../../common/errors";
import { useWorkerTestDatabase, type WorkerTestDb, whileUncommitted } from "../../test-support/db";
import { seeded } from "../../test-support/random";
import { awaitRoomInRateLimitWindow } from "../../test-support/rate-limit";
import { signToken } from "../../test-support/tokens";
import worker from "../src/index";

let db: WorkerTestDb;
const ACME = "a5000000-0000-4000-8000-000000000001";
/** The hook is rate-limited per client address as admin calls are: this file gets one of its own. */
const SUPABASE_IP = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`INSERT INTO tenants (id, slug, name) VALUES ('${ACME}', 'acme', 'Acme')`);
});

async function call(url: string, init: RequestInit = {}, overrides: Partial<typeof env> = {}) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(url, init),
    { ...env, DATABASE_URL: db.url, MEMBERSHIP_REDELETE_SECONDS: "0.05", ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

/** A POST as Supabase's Database Webhooks send it (supabase_functions.http_request). */
const hook = (body: unknown, token: string | null = env.SUPABASE_HOOK_TOKEN, overrides = {}) =>
  call(
    "http://api.localhost/hooks/supabase/users",
    {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "cf-connecting-ip": SUPABASE_IP,
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
    },
    overrides,
  );

const admin = (method: string, path: string, body?: unknown) =>
  call(`http://api.localhost/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${env.ADMIN_TOKEN}`,
      "cf-connecting-ip": SUPABASE_IP.replace("203.0.113.", "198.18.0."),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** An auth.users row as the webhook carries it: every column, the password hash among them. */
function authUser(id: string, fields: Record<string, unknown> = {}) {
  return {
    instance_id: "00000000-0000-0000-0000-000000000000",
    id,
    aud: "authenticated",
    role: "authenticated",
    email: `u${id.replaceAll("-", "")}@example.com`,
    encrypted_password: "$2a$10$abcdefghijklmnopqrstuv0123456789abcdefghijklmnopqrstu",
    email_confirmed_at: "2026-11-27T10:00:00.000000+00:00",
    phone: null,
    raw_app_meta_data: { provider: "email", providers: ["email"] },
    raw_user_meta_data: { email_verified: true },
    is_anonymous: false,
    deleted_at: null,
    created_at: "2026-11-27T10:00:00.000000+00:00",
    updated_at: "2026-11-27T10:00:00.000000+00:00",
    ...fields,
  };
}

const change = (type: "INSERT" | "UPDATE" | "DELETE", record: unknown, old_record: unknown = null) => ({
  type,
  table: "users",
  schema: "auth",
  record,
  old_record,
});

const contextOf = async (token: string) =>
  (
    (await (
      await call("http://acme.localhost/v1/context", { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { user: { email: string } | null }
  ).user;

describe("the Supabase auth.users webhook", () => {
  it("saves a sign-up as the user, email lower-cased and the provider's name as display name", async () => {
    const id = "b5000000-0000-4000-8000-000000000001";
    const res = await hook(
      change(
        "INSERT",
        authUser(id, { email: "Ada@Example.com", raw_user_meta_data: { full_name: " Ada L " } }),
      ),
    );
    expect([res.status, res.headers.get("cache-control"), await res.json()]).toEqual([
      200,
      "no-store",
      { user_id: id, action: "saved" },
    ]);
    expect(await (await admin("GET", `/users/${id}`)).json()).toEqual({
      id,
      email: "ada@example.com",
      display_name: "Ada L",
    });
  });

  it("follows an email change on the member's next request, and keeps the name when the row has none", async () => {
    const id = "b5000000-0000-4000-8000-000000000002";
    await hook(
      change("INSERT", authUser(id, { email: "old@example.com", raw_user_meta_data: { name: "Bo" } })),
    );
    expect(
      (await admin("PUT", `/tenants/${ACME}/members/${id}`, { role: "member", is_admin: false })).status,
    ).toBe(200);
    const token = await signToken({ sub: id });
    expect(await contextOf(token)).toMatchObject({ email: "old@example.com" }); // cached now
    const changed = await hook(
      change(
        "UPDATE",
        authUser(id, { email: "new@example.com" }),
        authUser(id, { email: "old@example.com" }),
      ),
    );
    expect(await changed.json()).toEqual({ user_id: id, action: "saved" });
    expect(await contextOf(token)).toMatchObject({ email: "new@example.com" });
    expect(await (await admin("GET", `/users/${id}`)).json()).toMatchObject({ display_name: "Bo" });
  });

  it("erases a deleted user, their memberships with them, and answers a second delivery the same", async () => {
    const id = "b5000000-0000-4000-8000-000000000003";
    await hook(change("INSERT", authUser(id)));
    await admin("PUT", `/tenants/${ACME}/members/${id}`, { role: "member", is_admin: false });
    const token = await signToken({ sub: id });
    expect(await contextOf(token)).not.toBeNull();
    for (let delivery = 0; delivery < 2; delivery++) {
      const res = await hook(change("DELETE", null, authUser(id)));
      expect([delivery, res.status, await res.json()]).toEqual([
        delivery,
        200,
        { user_id: id, action: "erased" },
      ]);
    }
    expect((await admin("GET", `/users/${id}`)).status).toBe(404);
    expect(await contextOf(token)).toBeNull();
  });

  it("erases a user Supabase soft-deletes (deleted_at set on an UPDATE)", async () => {
    const id = "b5000000-0000-4000-8000-000000000004";
    await hook(change("INSERT", authUser(id)));
    const res = await hook(
      change("UPDATE", authUser(id, { deleted_at: "2026-11-27T11:00:00+00:00" }), authUser(id)),
    );
    expect(await res.json()).toEqual({ user_id: id, action: "erased" });
    expect((await admin("GET", `/users/${id}`)).status).toBe(404);
  });

  it("keeps a user deleted before their sign-up arrived erased: the late sign-up and any change are skipped", async () => {
    const id = "b5000000-0000-4000-8000-000000000009";
    // pg_net sent both at once and the deletion came first: there was no one here to erase yet.
    const erased = await hook(change("DELETE", null, authUser(id)));
    expect(await erased.json()).toEqual({ user_id: id, action: "erased" });
    for (const type of ["INSERT", "UPDATE"] as const) {
      const late = await hook(change(type, authUser(id)));
      expect([type, late.status, await late.json()]).toEqual([
        type,
        200,
        { user_id: id, action: "skipped", reason: "erased here before this call arrived" },
      ]);
    }
    expect(await db.query("SELECT id FROM users WHERE id = $1", [id])).toEqual([]);
    // Support can tell an erased user from one never seen here.
    const messages = [];
    for (const who of [id, "b5000000-0000-4000-8000-0000000000ff"]) {
      const read = await admin("GET", `/users/${who}`);
      messages.push([read.status, ((await read.json()) as ErrorBody).error.message]);
    }
    expect(messages).toEqual([
      [404, expect.stringMatching(/^no such user: erased at 20\d\d-\d\d-\d\dT[\d:.]+\+00:00$/)],
      [404, "no such user"],
    ]);
    const put = await admin("PUT", `/users/${id}`, { email: "again@example.com" });
    expect([put.status, ((await put.json()) as ErrorBody).error.message]).toEqual([
      409,
      "this user was erased, and an erased user is not saved again",
    ]);
  });

  it("applies changes by the row's updated_at: one that overtook an older keeps its email, the same one again is saved", async () => {
    const id = "b5000000-0000-4000-8000-00000000000a";
    const at = (minute: number) => `2026-11-27T10:0${minute}:00.000001+00:00`;
    const send = async (type: "INSERT" | "UPDATE", email: string, minute: number) =>
      (await hook(change(type, authUser(id, { email, updated_at: at(minute) })))).json();
    expect(await send("INSERT", "first@example.com", 0)).toMatchObject({ action: "saved" });
    expect(await send("UPDATE", "third@example.com", 2)).toMatchObject({ action: "saved" });
    // The second change, delivered last: older than the one saved, so nothing changes.
    expect(await send("UPDATE", "second@example.com", 1)).toEqual({
      user_id: id,
      action: "skipped",
      reason: "a newer change of this user (updated_at) is saved",
    });
    expect(await send("UPDATE", "third@example.com", 2)).toMatchObject({ action: "saved" });
    expect(await (await admin("GET", `/users/${id}`)).json()).toMatchObject({ email: "third@example.com" });
    // The admin API orders by its updated_at the same way, and answers the user as saved.
    const older = await admin("PUT", `/users/${id}`, { email: "second@example.com", updated_at: at(1) });
    expect([older.status, await older.json()]).toEqual([
      200,
      { id, email: "third@example.com", display_name: null },
    ]);
    // A row whose updated_at is no time, or one years ahead, is saved as it comes, not lost; nor
    // does it hold back the changes after it.
    for (const [email, updated_at] of [
      ["fourth@example.com", "soon"],
      ["fifth@example.com", "2126-11-27T10:00:00+00:00"],
      ["sixth@example.com", at(3)],
    ]) {
      const odd = await hook(change("UPDATE", authUser(id, { email, updated_at })));
      expect([email, await odd.json()]).toEqual([email, expect.objectContaining({ action: "saved" })]);
    }
    const ahead = await admin("PUT", `/users/${id}`, {
      email: "x@example.com",
      updated_at: "2126-11-27T10:00:00Z",
    });
    expect([ahead.status, ((await ahead.json()) as ErrorBody).error.message]).toEqual([
      400,
      "updated_at: a time not in the future",
    ]);
  });

  it("orders a deletion and a sign-up sent at once: the deletion that waited for the sign-up erases it", async () => {
    const id = "b5000000-0000-4000-8000-00000000000b";
    // The sign-up's save, in flight: written, not yet committed.
    const save = "SELECT * FROM private.save_user($1, 'race@example.com', false, null, null)";
    const deletion = await whileUncommitted(db, save, [id], () => hook(change("DELETE", null, authUser(id))));
    expect(deletion.body).toEqual({ user_id: id, action: "erased" });
    expect(await db.query("SELECT id FROM users WHERE id = $1", [id])).toEqual([]);
  });

  it("orders a sign-up and a deletion sent at once: the sign-up that waited for the deletion is skipped", async () => {
    const id = "b5000000-0000-4000-8000-00000000000c";
    const erase = "SELECT * FROM private.erase_user($1)";
    const signUp = await whileUncommitted(db, erase, [id], () => hook(change("INSERT", authUser(id))));
    expect(signUp.body).toMatchObject({ user_id: id, action: "skipped" });
    expect(await db.query("SELECT id FROM users WHERE id = $1", [id])).toEqual([]);
  });

  it("ends every user as their newest change says, however their calls overtake each other", async () => {
    // Each user's calls as Supabase makes them: a sign-up, changes, and for some a deletion, in
    // order of updated_at; all sent at once and shuffled, as pg_net sends a batch.
    const r = seeded(20261127);
    const users = Array.from({ length: 24 }, (_, n) => {
      const id = `b5200000-0000-4000-8000-${String(n).padStart(12, "0")}`;
      const changes = r.int(0, 3);
      const calls = Array.from({ length: changes + 1 }, (_, k) =>
        change(
          k === 0 ? "INSERT" : "UPDATE",
          authUser(id, {
            email: `u${n}v${k}@example.com`,
            updated_at: `2026-11-27T10:00:0${k}.000000+00:00`,
          }),
        ),
      );
      const deleted = r.chance(0.4);
      if (deleted)
        calls.push(change("DELETE", null, authUser(id, { updated_at: "2026-11-27T10:00:09+00:00" })));
      return { id, calls, newest: deleted ? null : `u${n}v${changes}@example.com` };
    });
    const calls = users.flatMap((u) => u.calls);
    for (let i = calls.length - 1; i > 0; i--) {
      const j = r.int(0, i);
      [calls[i], calls[j]] = [calls[j] as (typeof calls)[number], calls[i] as (typeof calls)[number]];
    }
    const statuses = await Promise.all(calls.map(async (body) => (await hook(body)).status));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const rows = await db.query<{ id: string; email: string }>(
      "SELECT id::text, email FROM users WHERE id::text LIKE 'b5200000-%'",
    );
    const saved = new Map(rows.map((row) => [row.id, row.email]));
    expect(users.map((u) => [u.id, saved.get(u.id) ?? null])).toEqual(users.map((u) => [u.id, u.newest]));
    expect(users.some((u) => u.newest === null) && users.some((u) => u.newest !== null)).toBe(true);
  });

  it("skips a user with no email yet (a phone or anonymous sign-in), and saves them once they have one", async () => {
    const id = "b5000000-0000-4000-8000-000000000005";
    const phone = await hook(change("INSERT", authUser(id, { email: null, phone: "15550100" })));
    expect(await phone.json()).toMatchObject({ user_id: id, action: "skipped" });
    expect((await admin("GET", `/users/${id}`)).status).toBe(404);
    const linked = await hook(
      change("UPDATE", authUser(id, { email: "linked@example.com" }), authUser(id, { email: "" })),
    );
    expect(await linked.json()).toEqual({ user_id: id, action: "saved" });
  });

  it("refuses an email another user has with 409, and a change of another table with 400", async () => {
    const taken = await hook(
      change("INSERT", authUser("b5000000-0000-4000-8000-000000000006", { email: "ada@example.com" })),
    );
    expect([taken.status, ((await taken.json()) as ErrorBody).error.code]).toEqual([409, "conflict"]);
    for (const [body, message] of [
      [
        { ...change("INSERT", authUser("b5000000-0000-4000-8000-000000000007")), table: "profiles" },
        "table: this hook takes changes of auth.users",
      ],
      [
        { ...change("INSERT", authUser("b5000000-0000-4000-8000-000000000007")), schema: "public" },
        "schema: this hook takes changes of auth.users",
      ],
      [
        change("DELETE", authUser("b5000000-0000-4000-8000-000000000007")),
        "old_record: the deleted auth.users row",
      ],
      [change("INSERT", authUser("not-a-user-id")), "record.id: a UUID"],
      [
        change("INSERT", authUser("b5000000-0000-4000-8000-000000000007", { email: "not an email" })),
        "record.email: an email address",
      ],
    ] as const) {
      const res = await hook(body);
      expect([res.status, ((await res.json()) as ErrorBody).error.message]).toEqual([400, message]);
    }
  });

  it("takes a launch day's sign-ups from Supabase's one address: more a minute than the admin API's 60", async () => {
    await awaitRoomInRateLimitWindow(5_000);
    const burst = Array.from(
      { length: 75 },
      (_, i) => `b5100000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    );
    const statuses = [];
    for (const id of burst) statuses.push((await hook(change("INSERT", authUser(id)))).status);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it("takes the previous token too while SUPABASE_HOOK_TOKEN_PREVIOUS holds it, so a rotation loses no call", async () => {
    const body = change("INSERT", authUser("b5000000-0000-4000-8000-00000000000d"));
    const rotating = {
      SUPABASE_HOOK_TOKEN: "new-hook-token",
      SUPABASE_HOOK_TOKEN_PREVIOUS: "old-hook-token",
    };
    const statuses = [
      (await hook(body, "old-hook-token", rotating)).status,
      (await hook(body, "new-hook-token", rotating)).status,
      (await hook(body, "old-hook-token", { ...rotating, SUPABASE_HOOK_TOKEN_PREVIOUS: "" })).status,
    ];
    expect(statuses).toEqual([200, 200, 403]);
  });

  it("takes only its own token: none is 401, the admin token 403, and unset it is off", async () => {
    const body = change("INSERT", authUser("b5000000-0000-4000-8000-000000000008"));
    const cases = [
      [await hook(body, null), 401, "unauthorized"],
      [await hook(body, env.ADMIN_TOKEN), 403, "forbidden"],
      [await hook(body, "", { SUPABASE_HOOK_TOKEN: "" }), 403, "forbidden"],
    ] as const;
    for (const [res, status, code] of cases) {
      expect([res.status, ((await res.json()) as ErrorBody).error.code]).toEqual([status, code]);
    }
    expect((await admin("GET", "/users/b5000000-0000-4000-8000-000000000008")).status).toBe(404);
  });
});
