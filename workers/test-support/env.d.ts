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
    /**
     * LOCAL_DB_PROXY of a transaction-mode PgBouncer in front of the test Postgres, and its port
     * (db/local/pooler.ts); empty when there is none, TEST_POOLER_UNAVAILABLE saying why.
     */
    TEST_POOLER_PROXY: string;
    TEST_POOLER_PORT: string;
    TEST_POOLER_UNAVAILABLE: string;
    /** JSON: { RS256: JWK, ES256: JWK } private keys matching the keys served at TEST_JWKS_URL. */
    TEST_JWKS_PRIVATE_KEYS: string;
  }
}
