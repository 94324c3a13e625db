import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { type TestDb, useTestDatabase } from "../setup/node-db";

let db: TestDb;
const T = "c3000000-0000-4000-8000-000000000001";
const OTHER = "c3000000-0000-4000-8000-000000000002";
const U = "d3000000-0000-4000-8000-000000000001";
const JOURNEY = "e3000000-0000-4000-8000-000000000001";

beforeAll(async () => {
  db = await useTestDatabase();
  await db.client.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${T}', 'integrity', 'Integrity'), ('${OTHER}', 'integrity-2', 'Other');
    INSERT INTO users (id, email) VALUES ('${U}', 'u@example.com');
    INSERT INTO user_journeys (id, user_id, title) VALUES ('${JOURNEY}', '${U}', 'Trip');`);
});

const version = async () =>
  (await db.client.query<{ v: Date }>("SELECT updated_at AS v FROM tenants WHERE id = $1", [T])).rows[0]?.v;

describe("updated_at, the version the tenant cache compares", () => {
  it("follows commit order: a write in a transaction that began first but committed last gets the later version", async () => {
    const early = new pg.Client({ connectionString: db.url });
    await early.connect();
    try {
      await early.query("BEGIN"); // the transaction's start: what now() would stamp
      await new Promise((resolve) => setTimeout(resolve, 20));
      await db.client.query("UPDATE tenants SET name = 'Second' WHERE id = $1", [T]);
      const committedFirst = await version();
      await early.query("UPDATE tenants SET name = 'Last' WHERE id = $1", [T]);
      await early.query("COMMIT");
      const last = await version();
      expect(last?.getTime()).toBeGreaterThan(committedFirst?.getTime() ?? Number.POSITIVE_INFINITY);
    } finally {
      await early.end();
    }
  });

  it("keeps a time the statement sets itself (a content edit carries its job's time)", async () => {
    await db.client.query(
      "UPDATE tenants SET name = 'Dated', updated_at = '2021-02-03T04:05:06Z' WHERE id = $1",
      [T],
    );
    expect((await version())?.toISOString()).toBe("2021-02-03T04:05:06.000Z");
  });
});

describe("the schema refuses rows that no code path may write, whoever writes them", () => {
  it.each([
    [
      "events_end_after_start",
      `INSERT INTO events (tenant_id, title, start_date, end_date) VALUES ('${T}', 'x', '2030-01-02', '2030-01-01')`,
    ],
    [
      "journey_activities_end_after_start",
      `INSERT INTO journey_activities (journey_id, activity_type, title, start_datetime, end_datetime) VALUES ('${JOURNEY}', 'visit', 'x', '2030-01-02', '2030-01-01')`,
    ],
    [
      "user_journeys_dates",
      `INSERT INTO user_journeys (user_id, title, start_date, end_date) VALUES ('${U}', 'x', '2030-01-02', '2030-01-01')`,
    ],
    [
      "user_journeys_status",
      `INSERT INTO user_journeys (user_id, title, status) VALUES ('${U}', 'x', 'lost')`,
    ],
    [
      "posts_counters_non_negative",
      `INSERT INTO posts (tenant_id, user_id, content, total_likes) VALUES ('${T}', '${U}', 'x', -1)`,
    ],
    [
      "tenant_users_role",
      `INSERT INTO tenant_users (tenant_id, user_id, role) VALUES ('${T}', '${U}', 'superuser')`,
    ],
    ["tenants_slug_format", "INSERT INTO tenants (slug, name) VALUES ('Bad_Slug', 'x')"],
    [
      "tenants_domain_lowercase",
      "INSERT INTO tenants (slug, name, domain) VALUES ('cased', 'x', 'Mixed.Example.com')",
    ],
    ["tenants_name_not_blank", "INSERT INTO tenants (slug, name) VALUES ('blank', '   ')"],
    [
      "users_email_lowercase",
      "INSERT INTO users (id, email) VALUES (gen_random_uuid(), 'Upper@Example.com')",
    ],
    [
      "content_sharing_type",
      `INSERT INTO content_sharing (content_type, content_id, source_tenant_id, target_tenant_id) VALUES ('journeys', gen_random_uuid(), '${T}', '${OTHER}')`,
    ],
    [
      "content_sharing_other_tenant",
      `INSERT INTO content_sharing (content_type, content_id, source_tenant_id, target_tenant_id) VALUES ('posts', gen_random_uuid(), '${T}', '${T}')`,
    ],
  ])("%s", async (constraint, insert) => {
    await expect(db.client.query(insert)).rejects.toMatchObject({ code: "23514", constraint });
  });

  it("takes the same rows at the edge each check allows", async () => {
    await db.client.query(`
      INSERT INTO events (tenant_id, title, start_date, end_date) VALUES ('${T}', 'x', '2030-01-01', '2030-01-01');
      INSERT INTO journey_activities (journey_id, activity_type, title, start_datetime, end_datetime) VALUES ('${JOURNEY}', 'visit', 'x', '2030-01-01', '2030-01-01');
      INSERT INTO user_journeys (user_id, title, start_date, end_date) VALUES ('${U}', 'x', '2030-01-01', '2030-01-01');
      INSERT INTO posts (tenant_id, user_id, content, total_likes, total_comments) VALUES ('${T}', '${U}', 'x', 0, 0);`);
  });
});
