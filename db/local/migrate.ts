import path from "node:path";
import { fileURLToPath } from "node:url";
import { readMigrationFiles } from "drizzle-orm/migrator";
import pg from "pg";

export const MIGRATIONS_FOLDER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../migrations");

/** pg_advisory_xact_lock key that serialises migration runs on one database ("migr" in ASCII). */
const MIGRATION_LOCK = 0x6d696772;

/**
 * How long a migration waits for a lock before it fails. A migration that alters a table asks
 * for its ACCESS EXCLUSIVE lock, and while it waits for a long query to end, every later query
 * of that table queues behind the request: the app would stall for the length of someone's
 * report. After this it fails instead; nothing is applied (one transaction), and the deploy runs
 * it again. It bounds the wait only: a lock once held is kept for as long as the work takes.
 */
export const MIGRATION_LOCK_TIMEOUT_MS = 10_000;

/**
 * Applies db/migrations, keeping drizzle-kit's journal (drizzle.__drizzle_migrations: hash and
 * the journal's `when`), so this and `drizzle-kit migrate` agree on what has run.
 *
 * Not drizzle's own migrator: it reads the journal before its transaction and takes no lock, so
 * two deploys migrating at once both apply what is pending. One fails on an object the other
 * created, or, for statements that can run twice (CREATE OR REPLACE, a data UPDATE), both
 * succeed and the second applies them again. Here one transaction takes a transaction-level
 * advisory lock before it reads the journal: the second run waits, then finds nothing to do.
 * A transaction lock, not a session one, so it holds through a transaction-mode pooler (Neon's
 * pooled endpoint) too. Migrations may run longer than the app's 30 s statement limit, so the
 * transaction lifts it; it bounds their waits for locks instead (MIGRATION_LOCK_TIMEOUT_MS).
 */
export async function migrateDatabase(url: string, options: { lockTimeoutMs?: number } = {}): Promise<void> {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Read committed whatever the database defaults to: the journal is read after the lock is
    // had, and a snapshot taken before (repeatable read, serializable) missed what the deploy
    // that held it applied, which was then applied again and failed.
    await client.query("BEGIN ISOLATION LEVEL READ COMMITTED");
    // SET LOCAL, not startup options: poolers such as PgBouncer refuse an `options` parameter.
    await client.query("SET LOCAL statement_timeout = 0");
    await client.query("SET LOCAL client_min_messages = warning");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    // After the advisory lock: a deploy waits for another's migrations as long as they take.
    await client.query(
      `SET LOCAL lock_timeout = ${Math.round(options.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS)}`,
    );
    await client.query("CREATE SCHEMA IF NOT EXISTS drizzle");
    await client.query(
      "CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)",
    );
    const { rows } = await client.query<{ created_at: string }>(
      "SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1",
    );
    const last = rows[0] ? Number(rows[0].created_at) : undefined;
    for (const migration of migrations) {
      if (last !== undefined && migration.folderMillis <= last) continue;
      for (const statement of migration.sql) await client.query(statement);
      await client.query("INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ($1, $2)", [
        migration.hash,
        migration.folderMillis,
      ]);
    }
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK").catch(() => undefined);
    if ((e as { code?: unknown }).code === "55P03") {
      throw new Error(
        "a migration waited too long for a table another query holds (lock_timeout); nothing was applied: run the migrations again once that query is done",
        { cause: e },
      );
    }
    throw e;
  } finally {
    await client.end();
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates `name` as a copy of `template` (a migrated database), replacing any old copy. */
export async function cloneDatabase(adminUrl: string, template: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
    await client.query(
      `CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE ${client.escapeIdentifier(template)}`,
    );
  } finally {
    await client.end();
  }
  return withDatabase(adminUrl, name);
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
