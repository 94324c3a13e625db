import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { BASELINE_SQL, MAKE_ROOM_FOR_BASELINE } from "../../db/local/baseline";
import { cloneDatabase, migrateDatabase, withDatabase } from "../../db/local/migrate";
import { startPooler } from "../../db/local/pooler";
import { startLocalPostgres } from "../../db/local/postgres";
import { proxyTarget, startDbProxy } from "../../db/local/proxy";
import { bundleWorker } from "../../scripts/bundle";
import { startJwksServer, type TestJwks } from "./jwks";
import { startSilentServer } from "./silent";

export interface TestDatabaseInfo {
  /** Maintenance connection (database `postgres`) used to clone and drop test databases. */
  adminUrl: string;
  /** Migrated database every test file clones. */
  template: string;
  /** host:port of our WebSocket proxy for the Neon driver; empty when DATABASE_URL is remote. */
  proxy: string;
  /** host:port of a database proxy that never answers (test/setup/silent.ts). */
  silentProxy: string;
  /**
   * A transaction-mode PgBouncer in front of the same server (db/local/pooler.ts): the port it
   * listens on and host:port of a WebSocket proxy to it; port 0 when there is none, and why.
   */
  pooler: { port: number; proxy: string; unavailable: string };
}

/**
 * For tests that go through the real local queues: the consumer then runs with its configured
 * bindings, so each worker project gets one fixed database (cloned like the others) for them.
 */
export interface EndToEnd {
  tenantDatabaseUrl: string;
  batchDatabaseUrl: string;
  /** The batch worker bundled by wrangler, run beside the tenant worker in its test project. */
  batchScript: string;
  /**
   * Our schema with the original design's objects (../shared/reference/baseline.sql) in place of
   * ours, to compare results with the original feed function. Empty when that file is absent.
   */
  baselineDatabaseUrl: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    db: TestDatabaseInfo;
    jwks: TestJwks;
    e2e: EndToEnd;
  }
}

/** Only for comparing results: the original's view, triggers and feed function, never shipped. */
async function baselineDatabase(adminUrl: string, template: string): Promise<string> {
  if (!existsSync(BASELINE_SQL)) return "";
  const url = await cloneDatabase(adminUrl, template, `communities_test_baseline_${process.pid}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of MAKE_ROOM_FOR_BASELINE) await client.query(statement);
    await client.query(readFileSync(BASELINE_SQL, "utf8"));
  } finally {
    await client.end();
  }
  return url;
}

/**
 * Once per `vitest` run: a Postgres (embedded, or DATABASE_URL), one migrated template database
 * and the WebSocket proxy. Every test file then clones the template into a database of its own.
 */
export default async function setup(project: TestProject) {
  const external = process.env.DATABASE_URL;
  let dataDir: string | undefined;
  let adminUrl: string;
  let stopPostgres: () => Promise<void> = async () => {};
  if (external) {
    adminUrl = external;
  } else {
    const dir = mkdtempSync(path.join(tmpdir(), "communities-test-pg-"));
    dataDir = dir;
    // A server that does not start leaves no teardown to run: its folder goes now.
    const server = await startLocalPostgres({ dataDir: dir, persistent: false, fast: true }).catch((e) => {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    });
    adminUrl = server.url;
    stopPostgres = server.stop;
  }

  const template = `communities_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${template}`);
  await admin.end();
  await migrateDatabase(withDatabase(adminUrl, template));

  const u = new URL(adminUrl);
  const local = proxyTarget(adminUrl);
  const proxy = local ? await startDbProxy({ target: local }) : undefined;

  const pooler = local
    ? await startPooler({
        host: local.host,
        port: local.port,
        user: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password),
      })
    : { unavailable: "DATABASE_URL is not a local server" };
  if ("unavailable" in pooler) console.warn(`tests through a pooler are skipped: ${pooler.unavailable}`);
  const poolerProxy =
    "port" in pooler ? await startDbProxy({ target: { host: pooler.host, port: pooler.port } }) : undefined;

  const silent = await startSilentServer();
  project.provide("db", {
    adminUrl,
    template,
    proxy: proxy ? `127.0.0.1:${proxy.port}` : "",
    silentProxy: silent.address,
    pooler: {
      port: "port" in pooler ? pooler.port : 0,
      proxy: poolerProxy ? `127.0.0.1:${poolerProxy.port}` : "",
      unavailable: "unavailable" in pooler ? pooler.unavailable : "",
    },
  });
  const jwksServer = await startJwksServer();
  project.provide("jwks", jwksServer.jwks);
  // Inside the project: workerd resolves modules below its working directory.
  const bundleDir = path.resolve(".wrangler", "test-bundles", String(process.pid));
  const batchScript = bundleWorker("workers/batch/wrangler.toml", bundleDir);
  project.provide("e2e", {
    tenantDatabaseUrl: await cloneDatabase(adminUrl, template, `communities_test_e2e_tenant_${process.pid}`),
    batchDatabaseUrl: await cloneDatabase(adminUrl, template, `communities_test_e2e_batch_${process.pid}`),
    batchScript,
    baselineDatabaseUrl: await baselineDatabase(adminUrl, template),
  });

  return async () => {
    await jwksServer.close();
    await silent.close();
    rmSync(bundleDir, { recursive: true, force: true });
    await proxy?.close();
    await poolerProxy?.close();
    if ("stop" in pooler) await pooler.stop();
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    // Test files drop their own databases; this sweeps up after a crashed run.
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'communities_test_%' OR datname = $1",
      [template],
    );
    for (const { datname } of rows) {
      await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(datname)} WITH (FORCE)`);
    }
    await client.end();
    await stopPostgres();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
}
