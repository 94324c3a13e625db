import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { withDatabase } from "./migrate";
import { type LocalPostgres, localUrl, startLocalPostgres } from "./postgres";
import { proxyTarget } from "./proxy";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const LOCAL_DIR = path.join(ROOT, ".local");
// Below Linux's ephemeral range (32768-60999): a fixed port inside it can be held by some
// client connection's local end (even in TIME-WAIT), and Postgres then cannot listen on it.
export const LOCAL_PG_PORT = Number(process.env.LOCAL_PG_PORT ?? 15432);
export const LOCAL_PROXY_PORT = Number(process.env.LOCAL_PROXY_PORT ?? 15433);
export const LOCAL_DATABASE = "communities";

export interface Target {
  /** The app database's connection string. */
  url: string;
  /**
   * A server on this machine (the embedded one, or DATABASE_URL's): host:port for our proxy,
   * without which the Neon driver in workerd cannot reach it.
   */
  local?: { host: string; port: number };
  stop(): Promise<void>;
}

/** DATABASE_URL when given, else the embedded Postgres under .local/ (started if needed). */
export async function resolveDatabase(log: (line: string) => void = () => undefined): Promise<Target> {
  const external = process.env.DATABASE_URL;
  if (external) {
    const local = proxyTarget(external);
    return { url: external, ...(local ? { local } : {}), stop: async () => undefined };
  }
  const server: LocalPostgres = await startLocalPostgres({
    dataDir: path.join(LOCAL_DIR, "pg"),
    port: LOCAL_PG_PORT,
    persistent: true,
    log,
  });
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [LOCAL_DATABASE]);
  if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${LOCAL_DATABASE}`);
  await admin.end();
  return {
    url: withDatabase(localUrl(server.port), LOCAL_DATABASE),
    local: { host: server.host, port: server.port },
    stop: server.stop,
  };
}
