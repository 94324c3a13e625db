// Bindings that only the vitest projects add (vitest.config.ts), for cloning test databases.
declare namespace Cloudflare {
  interface Env {
    TEST_ADMIN_DATABASE_URL: string;
    TEST_TEMPLATE_DATABASE: string;
  }
}
