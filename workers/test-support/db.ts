import { env } from "cloudflare:test";
import type { PoolClient } from "@neondatabase/serverless";
import { afterAll, expect } from "vitest";
import { type DbHandle, openDb } from "../common/db";

function databaseUrl(name: string): string {
  const u = new URL(env.TEST_ADMIN_DATABASE_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (handle: DbHandle) => Promise<T>): Promise<T> {
  const handle = openDb({ DATABASE_URL: env.TEST_ADMIN_DATABASE_URL, LOCAL_DB_PROXY: env.LOCAL_DB_PROXY });
  try {
    return await fn(handle);
  } finally {
    await handle.close();
  }
}

export interface WorkerTestDb {
  url: string;
  /** Runs SQL against the file's database through the same driver the workers use. */
  query<R extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
}

function queryAt(url: string): WorkerTestDb["query"] {
  return async (text, params = []) => {
    const handle = openDb({ DATABASE_URL: url, LOCAL_DB_PROXY: env.LOCAL_DB_PROXY });
    try {
      return (await handle.pool.query(text, params)).rows;
    } finally {
      await handle.close();
    }
  };
}

/**
 * The project's end-to-end database (its DATABASE_URL binding): what messages delivered by the
 * real local queues are consumed against. Shared by the project's files: use ids of your own.
 */
export function endToEndDatabase(): WorkerTestDb {
  return databaseAt(env.DATABASE_URL);
}

/** A database by URL, queried through the workers' own driver. */
export function databaseAt(url: string): WorkerTestDb {
  return { url, query: queryAt(url) };
}

/** Polls until `check` holds, for effects that arrive through a queue. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Clones the migrated template into a database for the calling test file (so files run in
 * parallel without sharing rows) and drops it after the file.
 */
export async function useWorkerTestDatabase(): Promise<WorkerTestDb & { drop(): Promise<void> }> {
  const name = `communities_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await admin((h) => h.pool.query(`CREATE DATABASE "${name}" TEMPLATE "${env.TEST_TEMPLATE_DATABASE}"`));
  const url = databaseUrl(name);
  const drop = async () => {
    await admin((h) => h.pool.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  };
  afterAll(drop);
  return { url, query: queryAt(url), drop };
}

/**
 * The bindings that reach `url`'s database through the transaction-mode PgBouncer the tests run
 * (db/local/pooler.ts), as a Neon pooled (`-pooler`) connection string reaches Postgres; null
 * where there is no pooler (TEST_POOLER_UNAVAILABLE says why).
 */
export function throughPooler(url: string): { DATABASE_URL: string; LOCAL_DB_PROXY: string } | null {
  if (!env.TEST_POOLER_PROXY) return null;
  const u = new URL(url);
  u.port = env.TEST_POOLER_PORT;
  return { DATABASE_URL: u.toString(), LOCAL_DB_PROXY: env.TEST_POOLER_PROXY };
}

/**
 * An address where no database answers: the proxy port of a server that is not there. Tests that
 * use it print "Connection refused" and "Uncaught (in promise) ... Network connection lost" from
 * workerd. That is the test pool's fetch, not our code: a bare fetch to this address inside
 * try/catch prints the same lines under the pool, and none under plain Miniflare.
 */
export const UNREACHABLE_PROXY = "127.0.0.1:9";

/** `fn` on a session of its own (a fresh pool's client), released and the pool ended after. */
export async function inSession<T>(db: WorkerTestDb, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const handle = openDb({ DATABASE_URL: db.url, LOCAL_DB_PROXY: env.LOCAL_DB_PROXY });
  const client = await handle.pool.connect();
  try {
    return await fn(client);
  } finally {
    client.release();
    await handle.close();
  }
}

/**
 * Runs `statement` in a transaction left open while `call` is made, checks that the call waits
 * for it (a lock held), then commits and answers the call's JSON body (null for none): how a
 * test makes two requests overlap in the one order it means to check.
 */
export async function whileUncommitted(
  db: WorkerTestDb,
  statement: string,
  params: unknown[],
  call: () => Promise<Response>,
): Promise<{ status: number; body: unknown }> {
  return inSession(db, async (other) => {
    await other.query("BEGIN");
    await other.query(statement, params);
    let answered = false;
    const pending = call().finally(() => {
      answered = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false); // waiting for the other transaction
    await other.query("COMMIT");
    const res = await pending;
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  });
}

/**
 * Erases `erased` while a content batch edits two posts in id order (db/migrations/0019), as a
 * batch locks them: `first` (a post the user's erasure reaches through another row of theirs, a
 * like or a comment, whose trigger updates it), then `second`, their own. Answers how the batch's
 * second edit and the erasure ended: "edited" and "erased", or the error each met (a deadlock,
 * where the erasure took the posts in another order).
 */
export async function eraseWhileBatchEdits(
  db: WorkerTestDb,
  erased: string,
  first: string,
  second: string,
): Promise<[string, string]> {
  return inSession(db, async (batch) => {
    await batch.query("BEGIN");
    await batch.query("UPDATE posts SET content = 'edited' WHERE id = $1", [first]);
    const erasing = db.query("SELECT private.erase_user($1)", [erased]).then(
      () => "erased",
      (e: Error) => e.message,
    );
    await new Promise((r) => setTimeout(r, 300));
    const edited = await batch.query("UPDATE posts SET content = 'edited' WHERE id = $1", [second]).then(
      () => "edited",
      (e: Error) => e.message,
    );
    await batch.query("COMMIT");
    return [edited, await erasing];
  });
}

/** One node of a plan, as EXPLAIN (FORMAT JSON) gives it. */
export type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] };

/**
 * The rows a node read, over all its loops: those it passed on and those its filter dropped
 * (EXPLAIN gives both per loop). What a walk past unwanted rows costs shows in the second.
 */
export const rowsRead = (n: PlanNode): number =>
  (Number(n["Actual Rows"] ?? 0) + Number(n["Rows Removed by Filter"] ?? 0)) * Number(n["Actual Loops"] ?? 1);

/** The rows a plan's scans of `relation` read in all (rowsRead, over every node that names it). */
export const rowsReadOf = (nodes: PlanNode[], relation: string): number =>
  nodes.filter((n) => n["Relation Name"] === relation).reduce((sum, n) => sum + rowsRead(n), 0);

/**
 * The nodes of a statement's plan (EXPLAIN ANALYZE, run with `params`), every level, with the
 * plan types in `dear` (sequential scans and sorts unless told) made dear: a test database is
 * small enough for them to look cheapest, so only then does a plan show what the indexes allow.
 */
export async function planNodes(
  db: WorkerTestDb,
  text: string,
  params: unknown[],
  dear: ("seqscan" | "sort" | "mergejoin")[] = ["seqscan", "sort"],
): Promise<PlanNode[]> {
  return inSession(db, async (client) => {
    for (const plan of dear) await client.query(`SET enable_${plan} = off`);
    const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, params);
    return explainedNodes(rows);
  });
}

/** The nodes of a plan, every level, from the rows of an `EXPLAIN (FORMAT JSON)` however it ran. */
export function explainedNodes(rows: { "QUERY PLAN"?: unknown }[]): PlanNode[] {
  const flat = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(flat)];
  const plan = rows[0]?.["QUERY PLAN"];
  return flat((typeof plan === "string" ? JSON.parse(plan) : plan)[0].Plan);
}

/**
 * Runs `work` in one session and one transaction (rolled back), and answers how many rows the
 * scans of `table` read in it: what its sequential scans returned plus what each of its indexes
 * returned (a filter's rejects included). For statements EXPLAIN cannot see into: those a
 * PL/pgSQL function runs, with the plans it caches for the session.
 */
export async function rowsScanned(
  db: WorkerTestDb,
  table: string,
  work: (
    query: (text: string, params: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>,
  ) => Promise<void>,
): Promise<number> {
  return inSession(db, async (client) => {
    await client.query("BEGIN");
    try {
      await work((text, params) => client.query(text, params));
      // The counts of the transaction still open (pg_stat_get_xact_*), so no wait for statistics.
      const { rows } = await client.query<{ n: string }>(
        `SELECT sum(pg_stat_get_xact_tuples_returned(c.oid))::bigint AS n FROM pg_class c
          WHERE c.oid = $1::regclass OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = $1::regclass)`,
        [table],
      );
      return Number(rows[0]?.n ?? 0);
    } finally {
      await client.query("ROLLBACK").catch(() => undefined);
    }
  });
}
