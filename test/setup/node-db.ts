import pg from "pg";
import { afterAll, inject } from "vitest";
import { cloneDatabase, dropDatabase } from "../../db/local/migrate";

export interface TestDb {
  url: string;
  name: string;
  /** A client of the file's own database; ended after the file. */
  client: pg.Client;
}

/** A fresh clone of the migrated template for the calling test file, dropped after it. */
export async function useTestDatabase(): Promise<TestDb> {
  const { adminUrl, template } = inject("db");
  const name = `communities_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const url = await cloneDatabase(adminUrl, template, name);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  afterAll(async () => {
    await client.end();
    await dropDatabase(adminUrl, name);
  });
  return { url, name, client };
}
