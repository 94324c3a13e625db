import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { type TestDb, useTestDatabase } from "../setup/node-db";

let db: TestDb;
const T = "d0000000-0000-4000-8000-000000000001";
const ADMIN = "d0000000-0000-4000-8000-000000000002";
const POST = "d0000000-0000-4000-8000-0000000000a1";
const EVENT = "d0000000-0000-4000-8000-0000000000e1";

beforeAll(async () => {
  db = await useTestDatabase();
  await db.client.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${T}', 'locks', 'Locks');
    INSERT INTO users (id, email) VALUES ('${ADMIN}', 'locks@example.com');
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES ('${T}', '${ADMIN}', 'admin', true);
    INSERT INTO posts (id, tenant_id, user_id, content, updated_at) VALUES ('${POST}', '${T}', '${ADMIN}', 'p', '2000-01-01');
    INSERT INTO events (id, tenant_id, created_by, title, start_date, updated_at)
      VALUES ('${EVENT}', '${T}', '${ADMIN}', 'e', '2030-01-01', '2000-01-01');
  `);
});

/** A batch of edits as the consumer sends it (workers/batch/src/consume/content.ts), all at `at`. */
function editBatch(
  client: pg.Client,
  items: ("posts" | "events")[],
  at: string,
  target: { post: string; event: string } = { post: POST, event: EVENT },
) {
  const each = <X>(f: (type: "posts" | "events") => X) => items.map(f);
  const unset = each(() => false);
  const none = each(() => null);
  return client.query(
    `SELECT * FROM private.update_content(${Array.from({ length: 20 }, (_, i) => `$${i + 1}`).join(", ")})`,
    [
      each(() => crypto.randomUUID()),
      each(() => T),
      each(() => ADMIN),
      each(() => at),
      items,
      each((type) => (type === "posts" ? target.post : target.event)),
      ["owner", "admin"],
      each((type) => (type === "posts" ? `post at ${at}` : null)),
      each((type) => type === "events"),
      each(() => `event at ${at}`),
      ...[unset, none, unset, none, unset, none, unset, none, unset, none],
    ],
  );
}

describe("content edit batches running at once", () => {
  it("never deadlock when both edit one post and one event, one batch beginning with each", async () => {
    // The content-updates queue runs up to 10 consumers at once. Before 0019 about one such pair
    // in 12 deadlocked (each batch locked first the kind it began with).
    const clients = [
      new pg.Client({ connectionString: db.url }),
      new pg.Client({ connectionString: db.url }),
    ];
    await Promise.all(clients.map((c) => c.connect()));
    const failures: string[] = [];
    let second = Date.parse("2026-01-01T00:00:00Z") / 1000;
    try {
      await Promise.all(
        clients.map(async (client, i) => {
          const items: ("posts" | "events")[] = i === 0 ? ["posts", "events"] : ["events", "posts"];
          for (let round = 0; round < 200; round++) {
            const at = new Date(++second * 1000).toISOString();
            await editBatch(client, items, at).catch((e: { code?: string }) => failures.push(e.code ?? "?"));
          }
        }),
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    expect(failures).toEqual([]);
    // Both kept the newest edit: the last second either client used.
    const last = new Date(second * 1000).toISOString();
    const { rows } = await db.client.query(
      "SELECT (SELECT content FROM posts WHERE id = $1) AS post, (SELECT title FROM events WHERE id = $2) AS event",
      [POST, EVENT],
    );
    expect(rows[0]).toEqual({ post: `post at ${last}`, event: `event at ${last}` });
  }, 60_000);

  it("never deadlock with the erasure of the user whose post and event they edit", async () => {
    // An erasure's foreign-key actions lock the user's events (SET NULL) before their posts
    // (CASCADE); an edit batch that locked posts first could hold the post the erasure waited for.
    const clients = [
      new pg.Client({ connectionString: db.url }),
      new pg.Client({ connectionString: db.url }),
    ];
    await Promise.all(clients.map((c) => c.connect()));
    const [editor, eraser] = clients as [pg.Client, pg.Client];
    const failures: string[] = [];
    try {
      for (let round = 0; round < 100; round++) {
        const [user, post, event] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
        await db.client.query(
          `INSERT INTO users (id, email) VALUES ($1, $1 || '@example.com');
           INSERT INTO tenant_users (tenant_id, user_id) VALUES ('${T}', $1);`.replaceAll("$1", `'${user}'`),
        );
        await db.client.query(
          `INSERT INTO posts (id, tenant_id, user_id, content, updated_at) VALUES ($1, '${T}', $3, 'p', '2000-01-01');
           INSERT INTO events (id, tenant_id, created_by, title, start_date, updated_at)
             VALUES ($2, '${T}', $3, 'e', '2030-01-01', '2000-01-01');`
            .replaceAll("$1", `'${post}'`)
            .replaceAll("$2", `'${event}'`)
            .replaceAll("$3", `'${user}'`),
        );
        await Promise.all([
          editBatch(editor, ["posts", "events"], new Date().toISOString(), { post, event }).catch(
            (e: { code?: string }) => failures.push(`edit ${e.code}`),
          ),
          eraser
            .query("DELETE FROM users WHERE id = $1", [user])
            .catch((e: { code?: string }) => failures.push(`erase ${e.code}`)),
        ]);
      }
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    expect(failures).toEqual([]);
  }, 60_000);
});
