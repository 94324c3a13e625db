import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { build } from "esbuild";
import { convertV4MiniflareOptions, Miniflare, type V4WorkerOptions } from "miniflare";
import { ROOT } from "../../db/local/config";
import { childrenNamed } from "../../db/local/processes";
import { type DbProxy, proxyTarget, startDbProxy } from "../../db/local/proxy";
import { reapOnExit } from "../../db/local/reaper";
import { bundleWorker } from "../../scripts/bundle";

const COMPAT = { compatibilityDate: "2026-11-01", compatibilityFlags: ["nodejs_compat"] };

export interface Platform {
  mf: Miniflare;
  /** Sends a request to one of the workers (routed by host). */
  fetch(
    worker: "l1" | "kv" | "db" | "bare" | "contract" | "logged",
    path: string,
    headers?: Record<string, string>,
  ): Promise<Response>;
  /** The worker's own socket, with no Miniflare entry worker or Node in front (see DIRECT). */
  directUrl(worker: (typeof DIRECT)[number]): Promise<URL>;
  close(): Promise<void>;
}

/**
 * Workers that also listen on a socket of their own, so a client outside Node (wrk) can load
 * them with nothing but workerd in the request's path.
 */
export const DIRECT = ["bare", "logged", "contract", "l1"] as const;
const direct = (name: string) =>
  (DIRECT as readonly string[]).includes(name)
    ? { unsafeDirectSockets: [{ host: "127.0.0.1", proxy: false }] }
    : {};

/**
 * Both workers as wrangler bundles them, in one workerd: the tenant worker three times (all
 * cache tiers, KV only, no cache), a bare Hono route (the same route answering as ours
 * must, and the same route adding only the log line), and the batch worker, sharing one KV
 * namespace and reaching Postgres through our local Neon-style proxy.
 */
export async function startPlatform(databaseUrl: string): Promise<Platform> {
  const dir = path.join(ROOT, ".wrangler", "bench-bundles");
  mkdirSync(dir, { recursive: true });
  const tenantScript = bundleWorker("wrangler.toml", path.join(dir, "tenant"));
  const batchScript = bundleWorker("workers/batch/wrangler.toml", path.join(dir, "batch"));
  // Plain esbuild, keepNames off as in both wrangler configs: a baseline bundled differently
  // from the workers it is measured against would measure the bundler.
  const esm = (entry: string) =>
    build({
      entryPoints: [path.join(ROOT, entry)],
      bundle: true,
      format: "esm",
      write: false,
      platform: "neutral",
      conditions: ["workerd", "worker", "browser"],
      mainFields: ["module", "main"],
      external: ["node:*", "cloudflare:*"],
    }).then((r) => r.outputFiles[0]?.text ?? "");
  const bare = await esm("bench/bare-worker.ts");
  const contract = await esm("bench/contract-worker.ts");
  const oneRow = await esm("bench/one-row-worker.ts");
  const ceiling = await esm("bench/ceiling-worker.ts");
  const local = proxyTarget(databaseUrl);
  const proxy: DbProxy | undefined = local ? await startDbProxy({ target: local }) : undefined;
  const secrets = {
    DATABASE_URL: databaseUrl,
    LOCAL_DB_PROXY: proxy ? `127.0.0.1:${proxy.port}` : "",
    AUTH_JWT_SECRET: "bench-secret-bench-secret-bench-secret",
    AUTH_JWKS_URL: "",
    AUTH_ISSUER: "",
    AUTH_AUDIENCE: "",
    ADMIN_TOKEN: "bench-admin-token-long-enough-to-keep",
  };
  const tenant = (name: string, tiers: string): V4WorkerOptions => ({
    name,
    modules: true,
    scriptPath: tenantScript,
    modulesRoot: path.dirname(tenantScript),
    ...COMPAT,
    routes: [`${name}.bench.test/*`],
    ...direct(name),
    bindings: {
      ...secrets,
      PLATFORM_DOMAIN: "localhost",
      RESERVED_SUBDOMAINS: "api,www",
      TENANT_CACHE_TIERS: tiers,
    },
    kvNamespaces: { TENANT_CACHE: "tenant-cache" },
    queueProducers: {
      NOTIFICATIONS_QUEUE: "notifications",
      ANALYTICS_QUEUE: "analytics",
      CONTENT_UPDATES_QUEUE: "content-updates",
    },
    ratelimits: {
      ADMIN_RATE_LIMITER: { namespace_id: "1001", simple: { limit: 1_000_000, period: 60 } },
      WRITE_RATE_LIMITER: { namespace_id: "1002", simple: { limit: 1_000_000, period: 60 } },
      READ_RATE_LIMITER: { namespace_id: "1004", simple: { limit: 1_000_000, period: 60 } },
      EXPORT_RATE_LIMITER: { namespace_id: "1005", simple: { limit: 1_000_000, period: 60 } },
      HOOK_RATE_LIMITER: { namespace_id: "1003", simple: { limit: 1_000_000, period: 60 } },
    },
  });
  // Miniflare 5 takes a new options shape; its converter takes the worker-list shape used here.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      // The workers' JSON log lines are made as in production, but not printed by Node: the
      // terminal is not what is measured. BENCH_WORKER_LOG names a file to keep them in.
      // (Inside the converted options: a key beside them would be overwritten by theirs.)
      handleStructuredLogs: process.env.BENCH_WORKER_LOG
        ? ({ message }) => appendFileSync(process.env.BENCH_WORKER_LOG ?? "", `${message}\n`)
        : () => undefined,
      workers: [
        tenant("l1", "l1,kv"),
        tenant("kv", "kv"),
        tenant("db", "none"),
        {
          name: "bare",
          modules: [{ type: "ESModule", path: "bare.js", contents: bare }],
          ...COMPAT,
          routes: ["bare.bench.test/*"],
          ...direct("bare"),
        },
        {
          name: "contract",
          modules: [{ type: "ESModule", path: "contract.js", contents: contract }],
          ...COMPAT,
          routes: ["contract.bench.test/*"],
          ...direct("contract"),
        },
        {
          name: "logged",
          modules: [{ type: "ESModule", path: "contract.js", contents: contract }],
          ...COMPAT,
          routes: ["logged.bench.test/*"],
          ...direct("logged"),
          bindings: { ANSWER: "log-only" },
        },
        {
          name: "one-row",
          modules: [{ type: "ESModule", path: "one-row.js", contents: oneRow }],
          ...COMPAT,
          bindings: secrets,
        },
        {
          name: "ceiling",
          modules: [{ type: "ESModule", path: "ceiling.js", contents: ceiling }],
          ...COMPAT,
          bindings: secrets,
        },
        {
          name: "batch",
          modules: true,
          scriptPath: batchScript,
          modulesRoot: path.dirname(batchScript),
          ...COMPAT,
          bindings: secrets,
          kvNamespaces: { TENANT_CACHE: "tenant-cache" },
          queueProducers: {
            NOTIFICATIONS_QUEUE: "notifications",
            ANALYTICS_QUEUE: "analytics",
            CONTENT_UPDATES_QUEUE: "content-updates",
          },
        },
      ],
    }),
  );
  await mf.ready;
  // Miniflare's workerd would outlive a benchmark killed outright, serving on; the reaper stops it.
  for (const pid of childrenNamed(process.pid, "workerd")) reapOnExit({ process: { pid, comm: "workerd" } });
  return {
    mf,
    fetch: (worker, p, headers = {}) =>
      mf.dispatchFetch(`http://${worker}.bench.test${p}`, { headers }) as unknown as Promise<Response>,
    directUrl: (worker) => mf.unsafeGetDirectURL(worker),
    close: async () => {
      await mf.dispose();
      await proxy?.close();
    },
  };
}
