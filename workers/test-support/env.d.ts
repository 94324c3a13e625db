// Bindings that only the vitest projects add (vitest.config.ts), for cloning test databases.
declare namespace Cloudflare {
  interface Env {
    TEST_ADMIN_DATABASE_URL: string;
    TEST_TEMPLATE_DATABASE: string;
    TEST_JWKS_URL: string;
    /** LOCAL_DB_PROXY of a database that takes requests and never answers (test/setup/silent.ts). */
    TEST_SILENT_DB_PROXY: string;
    /** Empty when ../shared/reference/baseline.sql is not there. */
    TEST_BASELINE_DATABASE_URL: string;
    /** JSON: { RS256: JWK, ES256: JWK } private keys matching the keys served at TEST_JWKS_URL. */
    TEST_JWKS_PRIVATE_KEYS: string;
  }
}
