import { dirname } from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig, defineProject } from "vitest/config";
import { TEST_JWT_SECRET } from "./workers/test-support/constants.ts";

type Inject = <K extends "db" | "jwks" | "e2e">(key: K) => import("vitest").ProvidedContext[K];

/** Secrets and test-only bindings both worker projects get. */
function testBindings(inject: Inject) {
  const db = inject("db");
  const jwks = inject("jwks");
  return {
    TEST_BASELINE_DATABASE_URL: inject("e2e").baselineDatabaseUrl,
    LOCAL_DB_PROXY: db.proxy,
    TEST_SILENT_DB_PROXY: db.silentProxy,
    TEST_POOLER_PROXY: db.pooler.proxy,
    TEST_POOLER_PORT: String(db.pooler.port),
    TEST_POOLER_UNAVAILABLE: db.pooler.unavailable,
    TEST_ADMIN_DATABASE_URL: db.adminUrl,
    TEST_TEMPLATE_DATABASE: db.template,
    TEST_JWKS_URL: jwks.url,
    TEST_JWKS_PRIVATE_KEYS: JSON.stringify(jwks.privateKeys),
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    AUTH_JWKS_URL: "",
    AUTH_ISSUER: "",
    AUTH_AUDIENCE: "",
    ADMIN_TOKEN: "test-admin-token-long-enough-to-keep",
    SUPABASE_HOOK_TOKEN: "test-hook-token-long-enough-to-keep",
  };
}

/**
 * Worker projects run in workerd with the real bindings of their wrangler config (KV, Queues,
 * rate limits, cron). Tests hand the worker a per-file clone of the migrated template as
 * DATABASE_URL (workers/test-support/db.ts). DATABASE_URL here is what messages delivered by
 * the real local queues are consumed against: a fixed end-to-end database per project.
 */
export default defineConfig({
  test: {
    globalSetup: ["./test/setup/global.ts"],
    // Workers log a JSON line per request; show them only for tests that fail.
    silent: "passed-only",
    projects: [
      defineProject({
        test: { name: "db", include: ["test/**/*.test.ts"], environment: "node" },
      }),
      defineProject({
        plugins: [
          cloudflareTest(({ inject }) => {
            const e2e = inject("e2e");
            const bindings = { ...testBindings(inject as Inject), DATABASE_URL: e2e.tenantDatabaseUrl };
            return {
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings,
                // The batch worker, bundled, beside the tenant worker: the tenant's queue
                // producers then reach its consumers, as in production.
                workers: [
                  {
                    name: "communities-batch",
                    modules: true,
                    scriptPath: e2e.batchScript,
                    modulesRoot: dirname(e2e.batchScript),
                    compatibilityDate: "2026-11-01",
                    compatibilityFlags: ["nodejs_compat"],
                    bindings: { ...bindings },
                    kvNamespaces: ["TENANT_CACHE"],
                    queueConsumers: {
                      notifications: {
                        maxBatchTimeout: 0.5,
                        maxRetries: 2,
                        deadLetterQueue: "jobs-dead-letter",
                      },
                      analytics: { maxBatchTimeout: 0.5, maxRetries: 2, deadLetterQueue: "jobs-dead-letter" },
                      "content-updates": {
                        maxBatchTimeout: 0.5,
                        maxRetries: 2,
                        deadLetterQueue: "jobs-dead-letter",
                      },
                      "jobs-dead-letter": { maxBatchTimeout: 0.5 },
                    },
                  },
                ],
              },
            };
          }),
        ],
        test: { name: "tenant", include: ["workers/tenant/test/**/*.test.ts"], testTimeout: 20_000 },
      }),
      defineProject({
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./workers/batch/wrangler.toml" },
            miniflare: {
              bindings: { ...testBindings(inject as Inject), DATABASE_URL: inject("e2e").batchDatabaseUrl },
            },
          })),
        ],
        test: { name: "batch", include: ["workers/batch/test/**/*.test.ts"], testTimeout: 20_000 },
      }),
    ],
  },
});
