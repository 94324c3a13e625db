import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import {
  Contract,
  type Document,
  neverAnsweredInFull,
  type Operation,
  operationsOf,
  type Pools,
  requestFor,
} from "../../test-support/openapi";
import { type Random, seeded } from "../../test-support/random";
import { signProjectKey, signToken } from "../../test-support/tokens";
import worker from "../src/index";

/**
 * Requests made at random from the worker's own OpenAPI document (its routes, parameters and
 * bodies), most of them nearly right, many damaged, all held to what the document promises.
 * Seeded, so a failure repeats.
 */

let db: WorkerTestDb;
const T = {
  a: "c7000000-0000-4000-8000-00000000000a",
  b: "c7000000-0000-4000-8000-00000000000b",
  off: "c7000000-0000-4000-8000-00000000000c",
  // Where a's members share a's content: its members are a's too, so nothing of a's is shown
  // outside a by a share (the check below holds for shares as for everything else).
  c: "c7000000-0000-4000-8000-00000000000d",
};
const U = {
  alice: "c7100000-0000-4000-8000-000000000001", // tenant a, admin
  bob: "c7100000-0000-4000-8000-000000000002", // tenant a, member
  carol: "c7100000-0000-4000-8000-000000000003", // tenant b, member
  dave: "c7100000-0000-4000-8000-000000000004", // no community
};
const POST = { a: "c7200000-0000-4000-8000-00000000000a", b: "c7200000-0000-4000-8000-00000000000b" };
const EVENT = { a: "c7300000-0000-4000-8000-00000000000a", b: "c7300000-0000-4000-8000-00000000000b" };
const JOURNEY = { a: "c7400000-0000-4000-8000-00000000000a", b: "c7400000-0000-4000-8000-00000000000b" };
const ACTIVITY = { a: "c7500000-0000-4000-8000-00000000000a", b: "c7500000-0000-4000-8000-00000000000b" };
/** A comment on each community's post, bob's in a, carol's in b. */
const COMMENT = { a: "c7600000-0000-4000-8000-00000000000a", b: "c7600000-0000-4000-8000-00000000000b" };

/** What only members of one tenant may see: its content's ids and text. */
const ONLY = {
  a: [
    POST.a,
    EVENT.a,
    JOURNEY.a,
    ACTIVITY.a,
    COMMENT.a,
    "post-only-in-a",
    "event-only-in-a",
    "journey-only-in-a",
    "stop-only-in-a",
    "comment-only-in-a",
  ],
  b: [
    POST.b,
    EVENT.b,
    JOURNEY.b,
    ACTIVITY.b,
    COMMENT.b,
    "post-only-in-b",
    "event-only-in-b",
    "journey-only-in-b",
    "stop-only-in-b",
    "comment-only-in-b",
  ],
};

/**
 * The users and memberships the fixtures start with, put back where the fuzz removed them, and
 * with their roles as they were where it changed them.
 */
const FIXTURE_PEOPLE = `
    INSERT INTO users (id, email) VALUES
      ('${U.alice}', 'alice@contract.test'), ('${U.bob}', 'bob@contract.test'),
      ('${U.carol}', 'carol@contract.test'), ('${U.dave}', 'dave@contract.test')
      ON CONFLICT DO NOTHING;
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES
      ('${T.a}', '${U.alice}', 'admin', true), ('${T.a}', '${U.bob}', 'member', false),
      ('${T.b}', '${U.carol}', 'member', false), ('${T.off}', '${U.dave}', 'member', false),
      ('${T.c}', '${U.alice}', 'member', false), ('${T.c}', '${U.bob}', 'member', false)
      ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role, is_admin = excluded.is_admin;`;

/** Each community's public journey (bob's in a, carol's in b) with one activity, put back as they were. */
const FIXTURE_JOURNEYS = `
    INSERT INTO user_journeys (id, tenant_id, user_id, title, is_public) VALUES
      ('${JOURNEY.a}', '${T.a}', '${U.bob}', 'journey-only-in-a', true),
      ('${JOURNEY.b}', '${T.b}', '${U.carol}', 'journey-only-in-b', true)
      ON CONFLICT (id) DO UPDATE SET title = excluded.title, is_public = true;
    DELETE FROM journey_activities WHERE id IN ('${ACTIVITY.a}', '${ACTIVITY.b}');
    INSERT INTO journey_activities (id, journey_id, tenant_id, activity_type, title, start_datetime) VALUES
      ('${ACTIVITY.a}', '${JOURNEY.a}', '${T.a}', 'visit', 'stop-only-in-a', '2027-01-01T00:00:00Z'),
      ('${ACTIVITY.b}', '${JOURNEY.b}', '${T.b}', 'visit', 'stop-only-in-b', '2027-01-01T00:00:00Z');`;

/**
 * Each community's post's comment, put back where the fuzz deleted it, while its post is there
 * (an erasure of its author, in the admin fuzz, takes the post for good).
 */
const FIXTURE_COMMENTS = `
    INSERT INTO post_comments (id, post_id, user_id, content)
    SELECT v.id, v.post_id, v.user_id, v.content FROM (VALUES
      ('${COMMENT.a}'::uuid, '${POST.a}'::uuid, '${U.bob}'::uuid, 'comment-only-in-a'),
      ('${COMMENT.b}'::uuid, '${POST.b}'::uuid, '${U.carol}'::uuid, 'comment-only-in-b')) v(id, post_id, user_id, content)
     WHERE EXISTS (SELECT 1 FROM posts p WHERE p.id = v.post_id)
    ON CONFLICT (id) DO NOTHING;`;

async function restoreFixtures(): Promise<void> {
  // Tenants as they were: a, b and c active, the one for tenant-off deactivated, and none marked
  // for erasure (no cron runs here to carry one out; a marked tenant refuses every change).
  // An erased id is not saved again until an operator restores it by hand, as this does: else
  // a PUT of any id the fuzz had erased (every one in its pool, sooner or later) would be 409.
  // Members who left or were removed come back, and deleted posts, events and journeys too, for
  // the reads of them.
  await db.query(
    `UPDATE tenants SET is_active = true WHERE id IN ('${T.a}', '${T.b}', '${T.c}');
     UPDATE tenants SET is_active = false WHERE id = '${T.off}'; UPDATE tenants SET erasure_requested_at = NULL;
     DELETE FROM provider_users; ${FIXTURE_PEOPLE}
     UPDATE posts SET deleted_at = NULL; UPDATE events SET deleted_at = NULL; ${FIXTURE_JOURNEYS} ${FIXTURE_COMMENTS}`,
  );
}

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name, domain, is_active) VALUES
      ('${T.a}', 'contract-a', 'Contract A', 'contract-a.example', true),
      ('${T.b}', 'contract-b', 'Contract B', NULL, true),
      ('${T.off}', 'contract-off', 'Contract Off', NULL, false),
      ('${T.c}', 'contract-c', 'Contract C', NULL, true);
    ${FIXTURE_PEOPLE}
    INSERT INTO posts (id, tenant_id, user_id, content) VALUES
      ('${POST.a}', '${T.a}', '${U.bob}', 'post-only-in-a'), ('${POST.b}', '${T.b}', '${U.carol}', 'post-only-in-b');
    INSERT INTO events (id, tenant_id, created_by, title, start_date) VALUES
      ('${EVENT.a}', '${T.a}', '${U.bob}', 'event-only-in-a', now() + interval '1 day'),
      ('${EVENT.b}', '${T.b}', '${U.carol}', 'event-only-in-b', now() + interval '1 day');
    ${FIXTURE_JOURNEYS}
    ${FIXTURE_COMMENTS}
    SELECT private.refresh_user_communities();
  `);
});

const pools: Pools = {
  ids: [
    ...Object.values(T),
    ...Object.values(U),
    ...Object.values(POST),
    ...Object.values(EVENT),
    ...Object.values(JOURNEY),
    ...Object.values(ACTIVITY),
    ...Object.values(COMMENT),
  ],
  strings: [
    "contract-a",
    "contract-b",
    "contract-off",
    "nope",
    "api",
    "Contract A",
    "contract-a.example",
    "CONTRACT-A.EXAMPLE",
    "member",
    "admin",
    "page.view",
    "info",
    "posts",
    "events",
    "hello world",
    "Ünïcode ✓",
    "x",
    "",
    "-x-",
    "a".repeat(64),
    "true",
    "false",
    "0",
    "1",
    "-1",
    "50",
    "101",
    "1e3",
    T.a,
    `${T.a},${T.b}`,
    `${T.a},${T.a}`,
    U.alice.toUpperCase(),
    "%zz",
  ],
};

const UNLIMITED = { limit: async () => ({ success: true }) } as unknown as RateLimit;

async function call(method: string, url: string, headers: Record<string, string>, body?: string) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(url, { method, headers, body }),
    // A membership change deletes its cache entry again after this long, in waitUntil, which
    // each request here waits out: 5 s, the default, for each of them would be minutes. The
    // write limiter lets every write through: its 120 a minute per user would answer most of the
    // fuzz's writes 429 after the first few hundred, and leave routes never answered in full
    // (its 429, the same error shape as any, is tested where the limiter is).
    { ...env, DATABASE_URL: db.url, MEMBERSHIP_REDELETE_SECONDS: "0.01", WRITE_RATE_LIMITER: UNLIMITED },
    ctx,
  );
  // Read first: a streamed body (a user's export) is written in waitUntil, as it is read.
  const answer = await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(res.status === 204 ? null : answer, res);
}

let doc: Document;
let contract: Contract;
beforeAll(async () => {
  doc = (await (await call("GET", "http://api.localhost/openapi.json", {})).json()) as Document;
  contract = new Contract(doc);
});

/** What a request was made of, kept to name a failure. */
interface Made {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  as: keyof typeof U | "nobody";
}

async function bearer(
  r: Random,
  secret: string | undefined,
  clean: boolean,
): Promise<{ header?: string; as: Made["as"] }> {
  const roll = clean ? 0 : r.next();
  if (secret !== undefined) {
    if (roll < 0.75) return { header: `Bearer ${secret}`, as: "nobody" };
    if (roll < 0.8) return { header: `bearer ${secret}`, as: "nobody" };
  }
  if (roll < 0.85) {
    const who = clean ? r.pick(["alice", "bob"] as const) : r.pick(Object.keys(U) as (keyof typeof U)[]);
    return { header: `Bearer ${await signToken({ sub: U[who] })}`, as: who };
  }
  return {
    header: r.pick([
      undefined,
      "Bearer",
      "Bearer x.y.z",
      "Basic YTpi",
      `Bearer ${await signToken({ sub: U.alice }, { expiresIn: -60 })}`,
      `Bearer ${await signToken({ sub: "not-a-uuid" })}`,
      `Bearer ${await signProjectKey("anon")}`,
      `Bearer ${env.ADMIN_TOKEN}`,
    ]),
    as: "nobody",
  };
}

/** Routes for operators and the identity provider, each taking a shared secret of its own. */
const operatorRoute = (path: string) => path.startsWith("/admin/") || path.startsWith("/hooks/");

function secretFor(path: string): string | undefined {
  if (path.startsWith("/admin/")) return env.ADMIN_TOKEN;
  return path.startsWith("/hooks/") ? env.SUPABASE_HOOK_TOKEN : undefined;
}

/**
 * The ids a clean request's path parameter names, by what the path says it is. A journey's and
 * an activity's are tenant a's, which clean requests name: only that pair (bob's journey and its
 * activity) can be answered in full, and drawing each from both tenants left an activity's
 * routes a success in eight draws at best. The other tenant's ids come in the other requests,
 * which draw from every id.
 */
function idsFor(op: Operation, name: string): readonly string[] {
  if (name === "userId" || name === "user_id" || op.path.startsWith("/admin/users/")) return Object.values(U);
  // An erasure is asked of a deactivated tenant: the one that is.
  if (op.path.endsWith("/erasure")) return [T.off];
  if (op.path.startsWith("/admin/tenants/") || name === "tenant_id") return Object.values(T);
  if (name === "comment_id") return Object.values(COMMENT);
  if (op.path.startsWith("/v1/posts/")) return Object.values(POST);
  if (op.path.startsWith("/v1/events/")) return Object.values(EVENT);
  if (name === "activity_id") return [ACTIVITY.a];
  if (op.path.startsWith("/v1/journeys/")) return [JOURNEY.a];
  return pools.ids;
}

/** The value with every `tenant_id` in it, at any depth, `tenant`. */
function naming(tenant: string, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((inner) => naming(tenant, inner));
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key, key === "tenant_id" ? tenant : naming(tenant, inner)]),
  );
}

/**
 * A request for the operation. A clean one (two in five) names tenant a and sends a member's or
 * the admin's token, so that many requests get past the edge.
 */
async function make(op: Operation, r: Random): Promise<Made> {
  const clean = r.chance(0.4);
  const request = requestFor(doc, op, r, { clean, pools, cursors: contract.cursors, idsFor });
  const { path, contentType } = request;
  // A clean request's body names tenant a wherever it names a tenant, as its X-Tenant does: a
  // batch of jobs each naming any id half the time was all but never accepted whole. A share
  // names where a's content goes: c, whose members are a's.
  const named = op.path.endsWith("/shares") ? T.c : T.a;
  // An erasure's confirmation is the tenant's slug: a clean one gives it (a slug drawn from the
  // pool was the right one in one draw of six, and some seeds drew none in all their requests).
  const body =
    clean && op.path.endsWith("/erasure")
      ? JSON.stringify({ slug: "contract-off" })
      : clean && request.body
        ? JSON.stringify(naming(named, JSON.parse(request.body)))
        : request.body;
  const admin = operatorRoute(op.path);
  const auth = await bearer(r, secretFor(op.path), clean);
  const headers: Record<string, string> = {
    // The admin API counts requests per address (IPv6 per /64): each its own, so the fuzz meets
    // the limiter rarely, and never another file's.
    "cf-connecting-ip": `2001:db8:c0:${r.int(1, 0xffff).toString(16)}::1`,
  };
  if (auth.header !== undefined) headers.authorization = auth.header;
  if (contentType !== undefined) headers["content-type"] = contentType;
  if (op.parameters.some((p) => p.name === "X-Tenant") && (clean || r.chance(0.7))) {
    headers["x-tenant"] = clean
      ? "contract-a"
      : r.pick(["contract-a", "contract-a", "contract-b", "contract-off", "nope", "Contract-A", "a b", ""]);
  }
  if (!clean && r.chance(0.1))
    headers["x-request-id"] = r.pick(["trace-0001-abcd", "short", "bad id", "a/b/c/d/e/f"]);
  if (op.parameters.some((p) => p.name === "idempotency-key") && r.chance(0.3)) {
    headers["idempotency-key"] = r.pick(["k1", "k2", "", "x".repeat(300), "k 1"]);
  }
  const host = admin
    ? "api.localhost"
    : r.pick([
        "api.localhost",
        "contract-a.localhost",
        "contract-b.localhost",
        "contract-a.example",
        "unknown.localhost",
        "localhost",
      ]);
  return { method: op.method, url: `http://${host}${path}`, headers, body, as: auth.as };
}

/**
 * Whether every route has been called and has answered one request in full. A fuzz draws requests
 * until then (past its set number): some seeds drew no batch of jobs that all pass in 400
 * requests, which left what a full answer shows unchecked for that route.
 */
const everyRouteAnswered = (statuses: Map<string, Set<number>>, ops: readonly Operation[]) =>
  statuses.size === ops.length && neverAnsweredInFull(statuses).length === 0;

/**
 * How many requests a fuzz draws at most, in proportion to its routes: a fixed 2,000 left each
 * route fewer draws as routes were added, and a seed then drew no batch of jobs that all pass.
 */
const drawsAtMost = (ops: readonly Operation[]) => 150 * ops.length;

/**
 * A fuzz is bounded by its draws (drawsAtMost), not by the 20 s other tests are given: a seed
 * that met a route's one narrow success late (an admin's role change of the one other member)
 * drew 3,400 requests, 30 s on this machine.
 */
const FUZZ_TIMEOUT_MS = 120_000;

const describeMade = (m: Made) => `${m.method} ${m.url} as ${m.as}, body ${m.body?.slice(0, 300)}`;

describe("every answer of the tenant worker", () => {
  it("to a user's requests is one the OpenAPI document promises, shows no community's content to anyone outside it, and is never for a shared cache", {
    timeout: FUZZ_TIMEOUT_MS,
  }, async () => {
    const ops = operationsOf(doc).filter((o) => !operatorRoute(o.path));
    expect(ops.map((o) => `${o.method} ${o.path}`)).toEqual(
      expect.arrayContaining(["GET /v1/context", "POST /v1/jobs", "POST /v1/jobs/batch", "GET /v1/feed"]),
    );
    const r = seeded(20261127);
    const statuses = new Map<string, Set<number>>();
    let shownToMembers = 0;
    for (let i = 0; i < 400 || (i < drawsAtMost(ops) && !everyRouteAnswered(statuses, ops)); i++) {
      // Members leave and content is deleted as the fuzz goes (see the admin one below).
      if (i % 50 === 49) await restoreFixtures();
      const op = r.pick(ops);
      const made = await make(op, r);
      const res = await call(made.method, made.url, made.headers, made.body);
      const text = JSON.stringify(await contract.check(op, describeMade(made), res));
      // A well-formed incoming request id is kept, so traces join up; any other is replaced.
      const sent = made.headers["x-request-id"];
      expect([sent, res.headers.get("x-request-id")]).toEqual([
        sent,
        sent === "trace-0001-abcd" ? sent : expect.stringMatching(/^[0-9a-f-]{36}$/),
      ]);
      // What a shared cache may keep is the same for every caller: never an answer to a user.
      const cacheControl = res.headers.get("cache-control") ?? "";
      if (made.as !== "nobody") {
        expect([made.url, made.as, cacheControl]).toEqual([
          made.url,
          made.as,
          expect.stringMatching(/private|no-store/),
        ]);
      } else if (/public|s-maxage/.test(cacheControl)) {
        expect([made.url, res.headers.get("vary")]).toEqual([
          made.url,
          expect.stringMatching(/Authorization/i),
        ]);
      }
      const seen = statuses.get(`${op.method} ${op.path}`) ?? new Set();
      statuses.set(`${op.method} ${op.path}`, seen.add(res.status));
      const member = made.as === "alice" || made.as === "bob" ? "a" : made.as === "carol" ? "b" : null;
      if (member && ONLY[member].some((secret) => text.includes(secret))) shownToMembers++;
      for (const tenant of ["a", "b"] as const) {
        if (tenant === member) continue;
        for (const secret of ONLY[tenant]) {
          expect([made.url, made.as, secret, text.includes(secret)]).toEqual([
            made.url,
            made.as,
            secret,
            false,
          ]);
        }
      }
    }
    expect(neverAnsweredInFull(statuses)).toEqual([]);
    // The content is there to be leaked: members were shown their own community's.
    expect(shownToMembers).toBeGreaterThan(0);
  });

  it(
    "to the admin API and the identity provider's hook is one the OpenAPI document promises",
    async () => {
      const ops = operationsOf(doc).filter((o) => operatorRoute(o.path));
      const r = seeded(20261128);
      const statuses = new Map<string, Set<number>>();
      for (let i = 0; i < 500 || (i < drawsAtMost(ops) && !everyRouteAnswered(statuses, ops)); i++) {
        // The fuzz erases users and deactivates tenants as it goes; without them back now and then,
        // a seed that erased them early left some routes nothing they could answer in full.
        if (i % 50 === 49) await restoreFixtures();
        const op = r.pick(ops);
        const made = await make(op, r);
        const res = await call(made.method, made.url, made.headers, made.body);
        await contract.check(op, describeMade(made), res);
        const seen = statuses.get(`${op.method} ${op.path}`) ?? new Set();
        statuses.set(`${op.method} ${op.path}`, seen.add(res.status));
      }
      expect(statuses.size).toBe(ops.length);
      expect(neverAnsweredInFull(statuses)).toEqual([]);
    },
    FUZZ_TIMEOUT_MS,
  );

  it("to a method a documented path does not serve is 405, with an Allow naming exactly the documented ones", async () => {
    const byPath = new Map<string, string[]>();
    for (const op of operationsOf(doc)) byPath.set(op.path, [...(byPath.get(op.path) ?? []), op.method]);
    for (const [path, methods] of byPath) {
      const url = `http://api.localhost${path.replace(/\{\w+\}/g, T.a)}`;
      for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"].filter((m) => !methods.includes(m))) {
        const res = await call(method, url, {
          authorization: `Bearer ${secretFor(path) ?? env.ADMIN_TOKEN}`,
          "cf-connecting-ip": "2001:db8:c1::1",
        });
        const body = (await res.json()) as { error: { code: string } };
        expect([method, path, res.status, body.error.code, res.headers.get("allow")]).toEqual([
          method,
          path,
          405,
          "method_not_allowed",
          [...methods].sort().join(", "),
        ]);
      }
    }
    // Nor does a path no route serves need a tenant, a token or a JSON body to be told 404.
    for (const [method, path] of [
      ["GET", "/v1/context/nope"],
      ["POST", "/v1/jobs/nope"],
      ["GET", "/v1/feed/nope"],
      ["GET", "/v1/me/nope"],
    ]) {
      const res = await call(method as string, `http://api.localhost${path}`, {});
      const body = (await res.json()) as { error: { code: string } };
      expect([method, path, res.status, body.error.code]).toEqual([method, path, 404, "not_found"]);
    }
  });
});
