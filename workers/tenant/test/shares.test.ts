import type { env } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ErrorBody } from "../../common/errors";
import { UNREACHABLE_PROXY, useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { expectUnavailableQuickly, requestAs } from "../../test-support/requests";
import worker from "../src/index";

let db: WorkerTestDb;
const tenant = (n: number) => `a5600000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const user = (n: number) => `b5600000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const item = (n: number) => `c5600000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const [A, B, C, OFF, LONG] = [1, 2, 3, 4, 5].map(tenant) as [string, string, string, string, string];
const [ANN, BEN, CAT, DAN, EVE, FAY, GUS] = [1, 2, 3, 4, 5, 6, 7].map(user) as [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];
const ANNS_POST = item(1); // A's, by ann
const CATS_POST = item(2); // A's, by cat
const DELETED = item(3); // A's, by ann, deleted
const B_POST = item(4); // B's, by eve
const ANNS_EVENT = item(5); // A's, by ann
const OFF_POST = item(6); // OFF's (inactive), by ann

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name, is_active) VALUES
      ('${A}', 'share-a', 'Share A', true), ('${B}', 'share-b', 'Share B', true),
      ('${C}', 'share-c', 'Share C', true), ('${OFF}', 'share-off', 'Share Off', false),
      ('${LONG}', 'share-long', 'Share Long', true);
    INSERT INTO users (id, email)
    SELECT ('b5600000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'share' || g || '@example.com'
      FROM generate_series(1, 7) g;
    -- ann: a member of A, B, C and OFF; ben: A's admin, in B; cat: in A and C; dan: B's admin;
    -- eve: in B; fay: B's moderator; gus: in no community.
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES
      ('${A}', '${ANN}', 'member', false), ('${B}', '${ANN}', 'member', false),
      ('${C}', '${ANN}', 'member', false), ('${OFF}', '${ANN}', 'member', false),
      ('${A}', '${BEN}', 'admin', true), ('${B}', '${BEN}', 'member', false),
      ('${A}', '${CAT}', 'member', false), ('${C}', '${CAT}', 'member', false),
      ('${B}', '${DAN}', 'admin', false), ('${B}', '${EVE}', 'member', false),
      ('${B}', '${FAY}', 'moderator', false), ('${LONG}', '${EVE}', 'member', false);
    INSERT INTO posts (id, tenant_id, user_id, content, deleted_at) VALUES
      ('${ANNS_POST}', '${A}', '${ANN}', 'ann in A', NULL), ('${CATS_POST}', '${A}', '${CAT}', 'cat in A', NULL),
      ('${DELETED}', '${A}', '${ANN}', 'deleted in A', now()), ('${B_POST}', '${B}', '${EVE}', 'eve in B', NULL),
      ('${OFF_POST}', '${OFF}', '${ANN}', 'ann in Off', NULL);
    INSERT INTO events (id, tenant_id, created_by, title, start_date) VALUES
      ('${ANNS_EVENT}', '${A}', '${ANN}', 'ann''s walk', now() + interval '1 month');
  `);
});

beforeEach(async () => {
  await db.query(`DELETE FROM content_sharing WHERE target_tenant_id <> '${LONG}'`);
});

/** The shares held but the long posts' test's own. */
const held = () =>
  db.query(`SELECT content_id, target_tenant_id FROM content_sharing WHERE target_tenant_id <> '${LONG}'`);

const call = (
  method: string,
  path: string,
  who: string,
  body?: unknown,
  slug = "share-a",
  bindings: Partial<typeof env> = {},
) =>
  requestAs(
    worker,
    { method, path, who, body, host: `${slug}.localhost` },
    { DATABASE_URL: db.url, ...bindings },
  );

const share = (who: string, id: string, into: string, kind = "posts") =>
  call("POST", `/v1/${kind}/${id}/shares`, who, { tenant_id: into });
const unshare = (who: string, id: string, from: string, slug = "share-a") =>
  call("DELETE", `/v1/posts/${id}/shares/${from}`, who, undefined, slug);

interface Page {
  items: { id: string; tenant_id: string; tenant_name: string; share: Record<string, unknown> }[];
  next_cursor: string | null;
}

async function sharedIn(slug: string, who: string, query = "", kind = "posts"): Promise<Page> {
  const res = await call("GET", `/v1/shared/${kind}${query}`, who, undefined, slug);
  expect(res.status).toBe(200);
  return res.json();
}

async function refusal(res: Response): Promise<[number, string, string]> {
  const body = await res.json<ErrorBody>();
  return [res.status, body.error.code, body.error.message];
}

describe("sharing a community's posts and events into another community", () => {
  it("shares an author's post into another community of theirs once, and that community's members read it there", async () => {
    const first = await share(ANN, ANNS_POST, B);
    expect(first.status).toBe(201);
    const made = await first.json<Record<string, unknown>>();
    expect(made).toEqual({
      content_type: "posts",
      content_id: ANNS_POST,
      tenant_id: B,
      tenant_name: "Share B",
      tenant_slug: "share-b",
      shared_by: ANN,
      shared_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    // A retry, or another's share of it into the same community, makes no second one.
    const again = await share(BEN, ANNS_POST, B);
    expect([again.status, await again.json()]).toEqual([200, made]);
    expect((await held()).length).toBe(1);

    const page = await sharedIn("share-b", EVE);
    expect(page).toEqual({
      items: [
        {
          id: ANNS_POST,
          tenant_id: A,
          tenant_name: "Share A",
          user_id: ANN,
          content: "ann in A",
          created_at: expect.any(String),
          likes: 0,
          comments: 0,
          liked: false,
          share: { shared_by: ANN, shared_at: made.shared_at, source_slug: "share-a" },
        },
      ],
      next_cursor: null,
    });
    // Only there: not in a third community, nor among what was shared into its own.
    expect((await sharedIn("share-c", ANN)).items).toEqual([]);
    expect((await sharedIn("share-a", ANN)).items).toEqual([]);
  });

  it("shares an event as events are shown, in the other community's shared events", async () => {
    expect((await share(ANN, ANNS_EVENT, C, "events")).status).toBe(201);
    const page = await sharedIn("share-c", CAT, "", "events");
    expect(page.items).toEqual([
      expect.objectContaining({
        id: ANNS_EVENT,
        tenant_id: A,
        title: "ann's walk",
        start_date: expect.any(String),
        share: expect.objectContaining({ shared_by: ANN, source_slug: "share-a" }),
      }),
    ]);
    expect((await sharedIn("share-c", CAT)).items).toEqual([]);
  });

  it("lets the author or a community admin share, into an active community the sharer is in", async () => {
    // ben, A's admin, shares cat's post; ann, a member, may not; cat, its author, not into B.
    expect((await share(BEN, CATS_POST, B)).status).toBe(201);
    expect(await refusal(await share(ANN, CATS_POST, C))).toEqual([
      403,
      "forbidden",
      "only the author or a community admin can share this",
    ]);
    const notThere = [
      403,
      "forbidden",
      "content is shared only into an active community you are a member of",
    ];
    expect(await refusal(await share(CAT, CATS_POST, B))).toEqual(notThere);
    expect(await refusal(await share(ANN, ANNS_POST, OFF))).toEqual(notThere);
    expect(await refusal(await share(ANN, ANNS_POST, tenant(99)))).toEqual(notThere);
    expect(await held()).toEqual([{ content_id: CATS_POST, target_tenant_id: B }]);
  });

  it("refuses a share into the content's own community, of content not there, and to strangers", async () => {
    expect(await refusal(await share(ANN, ANNS_POST, A))).toEqual([
      400,
      "validation_failed",
      "tenant_id: a post is shared into another community than its own",
    ]);
    const notFound = [404, "not_found", "no such post or event in this community"];
    expect(await refusal(await share(ANN, DELETED, B))).toEqual(notFound);
    expect(await refusal(await share(ANN, B_POST, C))).toEqual(notFound);
    expect(await refusal(await share(ANN, ANNS_EVENT, B))).toEqual(notFound);
    // Whether or not it exists, a stranger learns nothing of it.
    const stranger = [403, "forbidden", "only members of this community can do that"];
    expect(await refusal(await share(GUS, ANNS_POST, B))).toEqual(stranger);
    expect(await refusal(await share(GUS, item(99), B))).toEqual(stranger);
    expect((await call("POST", `/v1/posts/${ANNS_POST}/shares`, ANN, { tenant_id: B, x: 1 })).status).toBe(
      400,
    );
    expect((await call("POST", `/v1/posts/${ANNS_POST}/shares`, ANN, { tenant_id: "b" })).status).toBe(400);
    expect((await held()).length).toBe(0);
  });

  it("shows where a post went to its community's members, newest first, a page at a time", async () => {
    await share(ANN, ANNS_POST, B);
    await share(ANN, ANNS_POST, C);
    const first = await call("GET", `/v1/posts/${ANNS_POST}/shares?limit=1`, CAT);
    const one = await first.json<{ shares: { tenant_id: string }[]; next_cursor: string | null }>();
    expect([first.status, one.shares.map((s) => s.tenant_id)]).toEqual([200, [C]]);
    const rest = await call("GET", `/v1/posts/${ANNS_POST}/shares?limit=1&cursor=${one.next_cursor}`, CAT);
    expect(await rest.json()).toEqual({
      shares: [expect.objectContaining({ tenant_id: B })],
      next_cursor: null,
    });
    // A member of where it went is not one of where it comes from.
    expect((await call("GET", `/v1/posts/${ANNS_POST}/shares`, EVE)).status).toBe(403);
    expect((await call("GET", `/v1/posts/${DELETED}/shares`, CAT)).status).toBe(404);
    expect((await call("GET", `/v1/posts/${ANNS_POST}/shares?cursor=nope`, CAT)).status).toBe(400);
  });

  it("keeps what is shared in from anyone outside the community it went into", async () => {
    await share(ANN, ANNS_POST, B);
    expect(await refusal(await call("GET", "/v1/shared/posts", CAT, undefined, "share-b"))).toEqual([
      403,
      "forbidden",
      "only members of this community can do that",
    ]);
    expect((await call("GET", "/v1/shared/posts", GUS, undefined, "share-b")).status).toBe(403);
  });

  it("passes over content deleted since, or of a community no longer active", async () => {
    await db.query(`UPDATE tenants SET is_active = true WHERE id = '${OFF}'`);
    expect(
      (await call("POST", `/v1/posts/${OFF_POST}/shares`, ANN, { tenant_id: B }, "share-off")).status,
    ).toBe(201);
    await db.query(`UPDATE tenants SET is_active = false WHERE id = '${OFF}'`);
    await share(ANN, ANNS_POST, B);
    expect((await sharedIn("share-b", EVE)).items.map((i) => i.id)).toEqual([ANNS_POST]);
    const deleted = await call("DELETE", `/v1/posts/${ANNS_POST}`, ANN);
    expect(deleted.status).toBe(204);
    try {
      expect((await sharedIn("share-b", EVE)).items).toEqual([]);
    } finally {
      await db.query(`UPDATE posts SET deleted_at = NULL WHERE id = '${ANNS_POST}'`);
    }
  });

  it("takes a share back for who shared it, its author, and either community's moderators, no one else", async () => {
    await share(BEN, CATS_POST, B);
    const notAllowed = [
      403,
      "forbidden",
      "only who shared it, its author, or a moderator or admin of either community can take it back",
    ];
    // eve, a member of B, may not; gus, of neither, learns nothing.
    expect(await refusal(await unshare(EVE, CATS_POST, B))).toEqual(notAllowed);
    expect(await refusal(await unshare(ANN, CATS_POST, B))).toEqual(notAllowed);
    expect(await refusal(await unshare(GUS, CATS_POST, B))).toEqual([
      403,
      "forbidden",
      "only members of this community or of the one it is shared into can do that",
    ]);
    // fay moderates B, and is not in A.
    expect((await unshare(FAY, CATS_POST, B)).status).toBe(204);
    expect(await refusal(await unshare(FAY, CATS_POST, B))).toEqual([
      404,
      "not_found",
      "not shared into that community",
    ]);
    expect((await sharedIn("share-b", EVE)).items).toEqual([]);

    for (const who of [BEN, CAT, DAN]) {
      expect((await share(BEN, CATS_POST, B)).status).toBe(201);
      expect([who, (await unshare(who, CATS_POST, B)).status]).toEqual([who, 204]);
    }
  });

  it("lets the sharer take back a share of a post deleted since", async () => {
    await share(ANN, ANNS_POST, C);
    await db.query(`UPDATE posts SET deleted_at = now() WHERE id = '${ANNS_POST}'`);
    try {
      expect((await unshare(ANN, ANNS_POST, C)).status).toBe(204);
    } finally {
      await db.query(`UPDATE posts SET deleted_at = NULL WHERE id = '${ANNS_POST}'`);
    }
    expect((await held()).length).toBe(0);
  });

  it("forgets a post's shares when the post itself is gone, as its author's erasure takes it", async () => {
    const [zoe, post] = [user(8), item(7)];
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${zoe}', 'zoe@example.com');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${A}', '${zoe}'), ('${B}', '${zoe}');
      INSERT INTO posts (id, tenant_id, user_id, content) VALUES ('${post}', '${A}', '${zoe}', 'zoe in A');`);
    expect((await share(zoe, post, B)).status).toBe(201);
    expect((await share(BEN, ANNS_POST, B)).status).toBe(201);
    await db.query("SELECT private.erase_user($1)", [zoe]);
    expect(await held()).toEqual([{ content_id: ANNS_POST, target_tenant_id: B }]);
  });

  it("pages what was shared in newest first, and stops a page of long posts at about 2 MB of text", async () => {
    // Six posts of 800 kB each (400,000 two-byte characters), shared into LONG a minute apart.
    await db.query(`
      INSERT INTO posts (id, tenant_id, user_id, content)
      SELECT ('c5600000-0000-4000-8000-0000000001' || lpad(g::text, 2, '0'))::uuid, '${A}', '${ANN}', repeat('é', 400000)
        FROM generate_series(1, 6) g;
      INSERT INTO content_sharing (content_type, content_id, source_tenant_id, target_tenant_id, shared_by, created_at)
      SELECT 'posts', ('c5600000-0000-4000-8000-0000000001' || lpad(g::text, 2, '0'))::uuid, '${A}', '${LONG}', '${ANN}',
             now() - g * interval '1 minute'
        FROM generate_series(1, 6) g;`);
    const seen: string[][] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page = await sharedIn("share-long", EVE, `?limit=20${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(page.items.map((i) => i.id.slice(-2)));
      cursor = page.next_cursor;
    }
    expect(seen).toEqual([
      ["01", "02"],
      ["03", "04"],
      ["05", "06"],
    ]);
    const small = await sharedIn("share-long", EVE, "?limit=1");
    expect([small.items.length, small.next_cursor === null]).toEqual([1, false]);
  });
});

describe("without a database", () => {
  it("answers 503 with Retry-After, quickly, to every share route", async () => {
    // The tenants cached first: the lookup would answer 503 itself, before any route ran.
    for (const slug of ["share-a", "share-b"]) await sharedIn(slug, ANN);
    const down = { LOCAL_DB_PROXY: UNREACHABLE_PROXY };
    for (const [method, path, body, slug] of [
      ["POST", `/v1/posts/${ANNS_POST}/shares`, { tenant_id: B }, "share-a"],
      ["GET", `/v1/posts/${ANNS_POST}/shares`, undefined, "share-a"],
      ["DELETE", `/v1/posts/${ANNS_POST}/shares/${B}`, undefined, "share-a"],
      ["GET", "/v1/shared/posts", undefined, "share-b"],
    ] as const) {
      await expectUnavailableQuickly(path, () => call(method, path, ANN, body, slug, down));
    }
  });
});
