import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { type TestDb, useTestDatabase } from "../setup/node-db";

let db: TestDb;
beforeAll(async () => {
  db = await useTestDatabase();
});

async function partitions(parent: string): Promise<string[]> {
  const { rows } = await db.client.query<{ name: string }>(
    "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1",
    [parent],
  );
  return rows.map((r) => r.name);
}

function expectedMonths(parent: string): string[] {
  const now = new Date();
  return Array.from({ length: 13 }, (_, i) => {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
    return `${parent}_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
  });
}

describe.each(["journey_activities", "analytics_events"])("%s partitions", (parent) => {
  it("exist for this month and 12 ahead, plus DEFAULT", async () => {
    const names = await partitions(parent);
    expect(names).toEqual([...expectedMonths(parent), `${parent}_default`].sort());
  });

  it("are created idempotently: a second call creates nothing", async () => {
    const { rows } = await db.client.query("SELECT * FROM private.ensure_monthly_partitions($1, 12)", [
      parent,
    ]);
    expect(rows).toEqual([]);
  });
});

describe("the DEFAULT partition", () => {
  it("takes a row dated 3 years ahead instead of failing the insert", async () => {
    const jobId = crypto.randomUUID();
    await db.client.query(
      "INSERT INTO analytics_events (event_type, job_id, created_at) VALUES ('far', $1, now() + interval '3 years')",
      [jobId],
    );
    const { rows } = await db.client.query(
      "SELECT tableoid::regclass::text AS part FROM analytics_events WHERE job_id = $1",
      [jobId],
    );
    expect(rows).toEqual([{ part: "analytics_events_default" }]);
    const count = await db.client.query("SELECT private.default_partition_rows('analytics_events') AS n");
    expect(count.rows[0].n).toBe("1");
  });

  it("hands its rows to a partition created later for their month", async () => {
    const jobId = crypto.randomUUID();
    await db.client.query(
      "INSERT INTO analytics_events (event_type, job_id, created_at) VALUES ('later', $1, date_trunc('month', now()) + interval '14 months' + interval '3 days')",
      [jobId],
    );
    const created = await db.client.query(
      "SELECT * FROM private.ensure_monthly_partitions('analytics_events', 14)",
    );
    expect(created.rows).toHaveLength(2);
    const { rows } = await db.client.query(
      "SELECT tableoid::regclass::text AS part FROM analytics_events WHERE job_id = $1",
      [jobId],
    );
    expect(rows[0].part).toMatch(/^analytics_events_p\d{6}$/);
  });

  it("keeps job ids unique per table for the same job", async () => {
    const jobId = crypto.randomUUID();
    const insert = () =>
      db.client.query(
        "INSERT INTO analytics_events (event_type, job_id, created_at) VALUES ('dup', $1, '2026-01-15T00:00:00Z') ON CONFLICT (job_id, created_at) DO NOTHING",
        [jobId],
      );
    await insert();
    await insert();
    const { rows } = await db.client.query(
      "SELECT count(*)::int AS n FROM analytics_events WHERE job_id = $1",
      [jobId],
    );
    expect(rows[0].n).toBe(1);
  });
});

describe("partition maintenance run twice at once (a cron fired by hand as its schedule fires)", () => {
  it("creates each partition once, and neither run fails", async () => {
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      // Months that do not exist yet, so both runs have partitions to create.
      for (const months of [20, 26]) {
        const call = (client: pg.Client) =>
          client.query<{ name: string }>(
            "SELECT name FROM private.ensure_monthly_partitions('journey_activities', $1) AS name",
            [months],
          );
        const runs = await Promise.allSettled([call(db.client), call(other)]);
        expect(runs.map((r) => (r.status === "rejected" ? String(r.reason) : "ok"))).toEqual(["ok", "ok"]);
        const created = runs.flatMap((r) =>
          r.status === "fulfilled" ? r.value.rows.map((x) => x.name) : [],
        );
        expect(new Set(created).size).toBe(created.length);
        expect(created.length).toBeGreaterThan(0);
      }
    } finally {
      await other.end();
    }
  });
});

describe("monthly retention (private.drop_monthly_partitions_before)", () => {
  it("drops ranges that end before the kept months, never DEFAULT, this month or an unbounded end", async () => {
    await db.client.query(`
      CREATE TABLE analytics_events_ancient PARTITION OF analytics_events FOR VALUES FROM (MINVALUE) TO ('2000-01-01');
      CREATE TABLE analytics_events_far PARTITION OF analytics_events FOR VALUES FROM ('2100-01-01') TO (MAXVALUE);`);
    const { rows } = await db.client.query<{ name: string }>(
      "SELECT name FROM private.drop_monthly_partitions_before('analytics_events', 1) AS name",
    );
    expect(rows.map((r) => r.name)).toEqual(["analytics_events_ancient"]);
    const left = await partitions("analytics_events");
    expect(left).toEqual(
      expect.arrayContaining([
        "analytics_events_far",
        "analytics_events_default",
        ...expectedMonths("analytics_events"),
      ]),
    );
    await db.client.query("DROP TABLE analytics_events_far");
  });

  it("refuses to keep fewer than one month", async () => {
    await expect(
      db.client.query("SELECT * FROM private.drop_monthly_partitions_before('analytics_events', 0)"),
    ).rejects.toThrow(/at least 1/);
  });
});
