import pg from "pg";
import { afterEach, describe, expect, inject, it } from "vitest";
import { withDatabase } from "../../db/local/migrate";

const shellMode = process.env.PGSSLMODE;
afterEach(() => {
  if (shellMode === undefined) delete process.env.PGSSLMODE;
  else process.env.PGSSLMODE = shellMode;
});

// node-postgres takes PGSSLMODE from the environment when a URL names no mode; a developer may
// have exported one for a cloud database.
describe.skipIf(process.env.DATABASE_URL)("the embedded Postgres' connection strings", () => {
  it("reach it whatever PGSSLMODE the shell exports", async () => {
    process.env.PGSSLMODE = "require";
    const { adminUrl, template } = inject("db");
    for (const url of [adminUrl, withDatabase(adminUrl, template)]) {
      const client = new pg.Client({ connectionString: url });
      try {
        await client.connect();
        expect((await client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  });
});
