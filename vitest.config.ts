import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig, defineProject } from "vitest/config";
import { TEST_JWT_SECRET } from "./workers/test-support/constants.ts";

/**
 * Worker projects run in workerd with the real bindings of their wrangler config (KV, Queues,
 * cron). Their DATABASE_URL is a per-file clone of the migrated template (see
 * workers/test-support/db.ts); these bindings are what a test file clones from.
 */
function workerProject(name: string, configPath: string, include: string) {
  return defineProject({
    plugins: [
      cloudflareTest(({ inject }) => {
        const db = inject("db");
        const jwks = inject("jwks");
        return {
          wrangler: { configPath },
          miniflare: {
            bindings: {
              DATABASE_URL: db.adminUrl,
              LOCAL_DB_PROXY: db.proxy,
              TEST_ADMIN_DATABASE_URL: db.adminUrl,
              TEST_TEMPLATE_DATABASE: db.template,
              TEST_JWKS_URL: jwks.url,
              TEST_JWKS_PRIVATE_KEYS: JSON.stringify(jwks.privateKeys),
              AUTH_JWT_SECRET: TEST_JWT_SECRET,
              AUTH_JWKS_URL: "",
              AUTH_ISSUER: "",
              AUTH_AUDIENCE: "",
              ADMIN_TOKEN: "test-admin-token",
            },
          },
        };
      }),
    ],
    test: { name, include: [include] },
  });
}

export default defineConfig({
  test: {
    globalSetup: ["./test/setup/global.ts"],
    // Workers log a JSON line per request; show them only for tests that fail.
    silent: "passed-only",
    projects: [
      defineProject({
        test: { name: "db", include: ["test/**/*.test.ts"], environment: "node" },
      }),
      workerProject("tenant", "./wrangler.toml", "workers/tenant/test/**/*.test.ts"),
      workerProject("batch", "./workers/batch/wrangler.toml", "workers/batch/test/**/*.test.ts"),
    ],
  },
});
