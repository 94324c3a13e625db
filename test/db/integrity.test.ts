import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { microsOf, PgTime } from "../../workers/common/time";
import { uuidTime, uuidVersion } from "../../workers/test-support/uuids";
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
    // Code points, as the API's zod bound counts them (a page's cursor carries the name).
    ["tenants_name_length", "INSERT INTO tenants (slug, name) VALUES ('long', repeat('🧗', 201))"],
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
      INSERT INTO posts (tenant_id, user_id, content, total_likes, total_comments) VALUES ('${T}', '${U}', 'x', 0, 0);
      INSERT INTO tenants (slug, name) VALUES ('longest', repeat('🧗', 200));`);
  });
});

describe("times as Postgres keeps them", () => {
  it("taken by the API are taken by Postgres, given back as times every reader reads, and read to its microsecond", async () => {
    // Go and Java write nanoseconds. Postgres rounds a fraction to microseconds (rint, half to
    // even); the enqueue API judging event dates by the digits it cut off refused edits the
    // consumer takes, and took ones it refuses. Ties and a carry into the next second first:
    const fractions = [".5", ".1234565", ".1234566", ".0000005", ".0000015", ".9999995", ".000000501"];
    const times = fractions.flatMap((f) => [`2030-06-30T23:59:59${f}Z`, `1969-12-31T23:59:59${f}-05:30`]);
    // Then random RFC 3339 shapes, edges weighted in: days past a month's end, hour 24, second 60,
    // years 0000, 0001, 1900 and 9999, offsets past ±15:59, up to nine digits of fraction.
    let seed = 11;
    const pick = (n: number) => {
      seed = (seed * 48271) % 2147483647;
      return seed % n;
    };
    const from = <T>(xs: T[]) => xs[pick(xs.length)] as T;
    const two = (n: number) => String(n).padStart(2, "0");
    for (let i = 0; i < 3000; i++) {
      const year =
        pick(3) === 0 ? from([0, 1, 2, 1900, 1969, 1970, 2000, 2024, 2100, 9998, 9999]) : 1 + pick(9999);
      const month = pick(4) === 0 ? from([1, 2, 12]) : 1 + pick(12);
      const day = pick(3) === 0 ? from([28, 29, 30, 31]) : 1 + pick(31);
      const clock =
        pick(5) === 0
          ? from(["00:00:00", "23:59:59", "24:00:00", "23:59:60"])
          : `${two(pick(24))}:${two(pick(60))}:${two(pick(60))}`;
      const fraction =
        pick(2) === 0
          ? ""
          : `.${String(pick(1_000_000_000))
              .padStart(9, "0")
              .slice(0, 1 + pick(9))}`;
      const offset =
        pick(3) === 0
          ? "Z"
          : `${from(["+", "-"])}${two(from([0, 5, 14, 15, 16, 23, pick(24)]))}:${two(from([0, 30, 59, pick(60)]))}`;
      times.push(`${String(year).padStart(4, "0")}-${two(month)}-${two(day)}T${clock}${fraction}${offset}`);
    }
    const taken = times.filter((t) => PgTime.safeParse(t).success);
    const { rows } = await db.client.query<{ valid: boolean; back: string | null; us: string | null }>(
      `SELECT pg_input_is_valid(t, 'timestamptz') AS valid,
              CASE WHEN pg_input_is_valid(t, 'timestamptz') THEN to_json(t::timestamptz) #>> '{}' END AS back,
              CASE WHEN pg_input_is_valid(t, 'timestamptz')
                   THEN (extract(epoch FROM t::timestamptz) * 1000000)::bigint::text END AS us
         FROM unnest($1::text[]) WITH ORDINALITY AS x(t, i) ORDER BY i`,
      [taken],
    );
    // Enough of each kind that the property says something.
    expect(taken.length).toBeGreaterThan(1000);
    expect(times.length - taken.length).toBeGreaterThan(500);
    const wrong = taken.flatMap((t, i) => {
      const row = rows[i];
      if (!row?.valid || row.back === null) return [`${t}: Postgres refuses it`];
      if (Number.isNaN(Date.parse(row.back))) return [`${t}: Postgres gives back ${row.back}`];
      // Microseconds since the epoch are exact in a double only until 2255.
      if (Math.abs(microsOf(t)) < 2 ** 53 && String(microsOf(t)) !== row.us) {
        return [`${t}: microsOf ${microsOf(t)}, Postgres ${row.us}`];
      }
      return [];
    });
    expect(wrong).toEqual([]);
  });
});

describe("ids Postgres makes", () => {
  it("are made by one time-ordered expression on every table, so new keys append to their indexes", async () => {
    // Partitions too, the ones the migrations made and a month the cron makes later: written to
    // directly, a partition takes its own default.
    await db.client.query("SELECT private.ensure_monthly_partitions('analytics_events', 15)");
    const { rows } = await db.client.query<{ table_name: string; column_default: string | null }>(
      // (users.id and provider_users.id have no default: the identity provider makes them.)
      `SELECT table_name, column_default FROM information_schema.columns
        WHERE table_schema = 'public' AND column_name = 'id' AND data_type = 'uuid'
          AND table_name NOT IN ('users', 'provider_users')`,
    );
    const later = new Date();
    later.setUTCMonth(later.getUTCMonth() + 15, 1);
    const month = `analytics_events_p${later.toISOString().slice(0, 7).replace("-", "")}`;
    expect(rows.map((r) => r.table_name)).toContain(month);
    // The one expression (the next test shows what it makes), as Postgres prints it back.
    const made = rows.find((r) => r.table_name === "notifications")?.column_default;
    expect(made).toContain("clock_timestamp()");
    for (const r of rows) expect(r.column_default, r.table_name).toBe(made);
  });

  it("carry version 7 and the time they were made, and sort in the order they were made", async () => {
    const made = async () =>
      (
        await db.client.query<{ id: string; at: Date }>(
          `INSERT INTO notifications (user_id, tenant_id, type, title, message, job_id)
           VALUES ($1, $2, 'test', 't', 'm', gen_random_uuid()) RETURNING id, clock_timestamp() AS at`,
          [U, T],
        )
      ).rows[0];
    // In one transaction: ids keep the time each was made, not the transaction's start.
    await db.client.query("BEGIN");
    const first = await made();
    await db.client.query("SELECT pg_sleep(0.003)");
    const second = await made();
    await db.client.query("COMMIT");
    for (const row of [first, second]) {
      const id = row?.id ?? "";
      expect(uuidVersion(id), id).toBe(7);
      const ms = uuidTime(id) ?? Number.NaN;
      // Stamped in this statement, a moment before the clock the RETURNING read.
      expect(ms).toBeLessThanOrEqual(row?.at.getTime() ?? 0);
      expect(ms).toBeGreaterThan((row?.at.getTime() ?? 0) - 1000);
    }
    expect((first?.id ?? "") < (second?.id ?? "")).toBe(true);
    const { rows } = await db.client.query<{ ordered: boolean }>("SELECT $1::uuid < $2::uuid AS ordered", [
      first?.id,
      second?.id,
    ]);
    expect(rows[0]?.ordered).toBe(true);
  });
});
