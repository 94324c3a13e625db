import { neon, neonConfig } from "@neondatabase/serverless";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DbProxy, startDbProxy } from "../../db/local/proxy";
import { attempt } from "../../workers/common/db";
import { type TestDb, useTestDatabase } from "../setup/node-db";

/** The local stand-in for Neon's SQL-over-HTTP endpoint, driven by the real `neon()` client. */
let db: TestDb;
let proxy: DbProxy;

beforeAll(async () => {
  db = await useTestDatabase();
  const u = new URL(db.url);
  proxy = await startDbProxy({ target: { host: u.hostname, port: Number(u.port) } });
  neonConfig.fetchEndpoint = () => `http://127.0.0.1:${proxy.port}/sql`;
  await db.client.query("CREATE TABLE http_probe (id int PRIMARY KEY, note text)");
});

afterAll(async () => {
  await proxy.close();
});

const post = (connectionString: string, body: unknown) =>
  fetch(`http://127.0.0.1:${proxy.port}/sql`, {
    method: "POST",
    headers: { "Neon-Connection-String": connectionString },
    body: JSON.stringify(body),
  });

describe("local SQL-over-HTTP endpoint", () => {
  it("answers a parameterised query with values the driver parses into JavaScript types", async () => {
    const sql = neon(db.url);
    const [row] = await sql.query(
      "SELECT $1::int + 1 AS n, '2026-01-02T03:04:05Z'::timestamptz AS at, '{1,2}'::int[] AS list, NULL::text AS nothing, $2::jsonb AS doc",
      [41, JSON.stringify({ a: [1] })],
    );
    expect(row).toEqual({
      n: 42,
      at: new Date("2026-01-02T03:04:05Z"),
      list: [1, 2],
      nothing: null,
      doc: { a: [1] },
    });
  });

  it("runs a transaction as a whole: a failing statement rolls back the ones before it", async () => {
    const sql = neon(db.url);
    await expect(
      sql.transaction([
        sql.query("INSERT INTO http_probe (id, note) VALUES (1, 'first')"),
        sql.query("INSERT INTO http_probe (id, note) VALUES (1, 'again')"),
      ]),
    ).rejects.toThrow();
    expect((await db.client.query("SELECT count(*)::int AS n FROM http_probe")).rows[0].n).toBe(0);
    const [a, b] = await sql.transaction([
      sql.query("INSERT INTO http_probe (id, note) VALUES (2, 'kept') RETURNING id"),
      sql.query("SELECT note FROM http_probe WHERE id = 2"),
    ]);
    expect([a, b]).toEqual([[{ id: 2 }], [{ note: "kept" }]]);
  });

  it.each([
    ["40P01", "unavailable"], // deadlock: the same statement may succeed next time
    ["40001", "unavailable"], // serialization failure
    ["53300", "unavailable"], // too many connections
    ["57P01", "unavailable"], // the server shuts down (a restart, a failover)
    ["08006", "unavailable"], // the connection failed
    ["57014", "timeout"], // statement_timeout
    ["23505", "query"], // the statement's own fault
    ["42703", "query"],
  ])("classifies SQLSTATE %s from the real driver as %s", async (sqlstate, kind) => {
    const sql = neon(db.url);
    const result = await attempt(() =>
      sql.query(`DO $$ BEGIN RAISE EXCEPTION 'probe' USING ERRCODE = '${sqlstate}'; END $$`),
    );
    expect(result).toMatchObject({ ok: false, error: { kind } });
  });

  it("answers a query whose backend is terminated with an error, and serves the next on another connection", async () => {
    const sql = neon(db.url);
    const backend = async () => (await sql.query("SELECT pg_backend_pid() AS pid"))[0]?.pid as number;
    const first = await backend();
    const terminated = await attempt(() => sql.query("SELECT pg_terminate_backend(pg_backend_pid())"));
    expect(terminated.ok).toBe(false);
    // Not the dead client again: each of these would fail on it.
    for (let i = 0; i < 3; i++) expect(await backend()).not.toBe(first);
  });

  it("answers a transaction whose backend is terminated with an error, and goes on serving", async () => {
    const sql = neon(db.url);
    // In a transaction: its ROLLBACK then waits on the dead connection while the client is out
    // of the pool, which is when the connection's end reached no error listener.
    const sleeping = attempt(() =>
      sql.transaction([sql.query("SELECT 1 AS one"), sql.query("SELECT pg_sleep(30), 'slept' AS note")]),
    );
    let pid: number | undefined;
    for (let i = 0; i < 40 && pid === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const { rows } = await db.client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND pid <> pg_backend_pid()",
      );
      pid = rows[0]?.pid;
    }
    await db.client.query("SELECT pg_terminate_backend($1)", [pid]);
    expect((await sleeping).ok).toBe(false);
    expect(await sql.query("SELECT 'still here' AS note")).toEqual([{ note: "still here" }]);
  });

  it("reports a Postgres error with its SQLSTATE and constraint, as Neon's endpoint does", async () => {
    const sql = neon(db.url);
    await sql.query("INSERT INTO http_probe (id) VALUES (3)");
    const error = await sql.query("INSERT INTO http_probe (id) VALUES (3)").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "23505", constraint: "http_probe_pkey" });
  });

  it("applies a transaction's options as Neon's endpoint does: read-only refuses writes, the isolation level is set", async () => {
    const sql = neon(db.url);
    const write = await sql
      .transaction([sql.query("INSERT INTO http_probe (id) VALUES (90)")], { readOnly: true })
      .catch((e: unknown) => e);
    expect(write).toMatchObject({ code: "25006" }); // read_only_sql_transaction
    const [shown] = await sql.transaction([sql.query("SHOW transaction_isolation")], {
      isolationLevel: "Serializable",
    });
    expect(shown).toEqual([{ transaction_isolation: "serializable" }]);
  });

  it("refuses to answer a statement whose rows pass 10 MiB, as Neon's endpoint does, and rolls back its transaction", async () => {
    const sql = neon(db.url);
    const big = "SELECT repeat('x', 1024 * 1024) AS chunk FROM generate_series(1, 11)";
    await expect(sql.query(big)).rejects.toThrow(/response is too large/);
    await expect(
      sql.transaction([sql.query("INSERT INTO http_probe (id, note) VALUES (50, 'large')"), sql.query(big)]),
    ).rejects.toThrow(/response is too large/);
    expect((await db.client.query("SELECT 1 FROM http_probe WHERE id = 50")).rowCount).toBe(0);
    // Just under the limit is answered.
    expect(
      await sql.query("SELECT repeat('x', 1024 * 1024) AS chunk FROM generate_series(1, 9)"),
    ).toHaveLength(9);
  });

  it("refuses a batch holding something other than queries with a 400, as its own fault", async () => {
    const res = await post(db.url, { queries: [{ query: "SELECT 1" }, { nope: 1 }] });
    expect(res.status).toBe(400);
  });

  it("refuses a connection string naming any other server or port: it is not an open relay", async () => {
    const other = new URL(db.url);
    other.hostname = "example.com";
    expect((await post(other.toString(), { query: "SELECT 1", params: [] })).status).toBe(403);
    const port = new URL(db.url);
    port.port = String(Number(port.port) + 1);
    expect((await post(port.toString(), { query: "SELECT 1", params: [] })).status).toBe(403);
  });
});
