import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { createPastMonthPartition, lockWaitOf, type Rows } from "../../workers/test-support/postgres";
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

/** The test database's rows, as the shared helpers take them. */
const rows: Rows = async (text, params) => (await db.client.query(text, params)).rows;
const pastMonth = async (parent: string, back: number) =>
  (await createPastMonthPartition(rows, parent, back)).name;

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

  it("drops each expired partition once, and the run that waited does not fail on what the first dropped", async () => {
    const expired = [await pastMonth("journey_activities", 6), await pastMonth("journey_activities", 5)];
    const first = new pg.Client({ connectionString: db.url });
    const second = new pg.Client({ connectionString: db.url });
    await Promise.all([first.connect(), second.connect()]);
    const drop = (client: pg.Client) =>
      client.query<{ name: string }>(
        "SELECT name FROM private.drop_monthly_partitions_before('journey_activities', 4) AS name",
      );
    try {
      // The first run holds its locks until it commits, so the second starts while the first's
      // partitions still look present to it.
      const secondPid =
        (await second.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid ?? 0;
      await first.query("BEGIN");
      const dropped = await drop(first);
      const waiting = drop(second).then(
        (r) => r.rows.map((x) => x.name),
        (e: unknown) => String(e),
      );
      // It waits for the first run's maintenance lock before it reads the partitions at all; on
      // the partitions' own locks instead, it could hold one the first run needs next (deadlock).
      expect(await lockWaitOf(rows, secondPid)).toBe("advisory");
      await first.query("COMMIT");
      expect(dropped.rows.map((r) => r.name)).toEqual(expired);
      expect(await waiting).toEqual([]);
    } finally {
      await Promise.all([first.end(), second.end()]);
    }
  });
});

describe("creating a month while a long query reads the table", () => {
  it("gives up within 5 s instead of queueing every insert behind it, and the next run creates the month", async () => {
    const [reader, maintainer, writer] = [0, 1, 2].map(() => new pg.Client({ connectionString: db.url }));
    const clients = [reader, maintainer, writer] as pg.Client[];
    await Promise.all(clients.map((c) => c.connect()));
    try {
      // A report that reads analytics_events for a long time: its lock outlasts the test's wait.
      await reader?.query("BEGIN");
      await reader?.query("SELECT count(*) FROM analytics_events");
      const pid = (await maintainer?.query<{ pid: number }>("SELECT pg_backend_pid() AS pid"))?.rows[0]?.pid;
      // 18 months ahead: a month no other test makes.
      const create = () =>
        (maintainer as pg.Client).query(
          "SELECT * FROM private.ensure_monthly_partitions('analytics_events', 18)",
        );
      const creating = create().then(
        () => "created",
        (e: { code?: string }) => e.code,
      );
      expect(await lockWaitOf(rows, pid)).toBe("relation");
      // An insert now queues behind the creation's lock request, until the creation gives up.
      const started = Date.now();
      await writer?.query("INSERT INTO analytics_events (event_type, job_id) VALUES ('during', $1)", [
        crypto.randomUUID(),
      ]);
      const waited = Date.now() - started;
      expect(await creating).toBe("55P03"); // lock_not_available
      expect(waited).toBeLessThan(8_000);
      await reader?.query("COMMIT");
      const ahead = new Date();
      ahead.setUTCDate(1);
      ahead.setUTCMonth(ahead.getUTCMonth() + 18);
      const month = `${ahead.getUTCFullYear()}${String(ahead.getUTCMonth() + 1).padStart(2, "0")}`;
      expect((await create()).rows.at(-1)).toEqual({
        ensure_monthly_partitions: `analytics_events_p${month}`,
      });
    } finally {
      await reader?.query("ROLLBACK").catch(() => undefined);
      await Promise.all(clients.map((c) => c?.end()));
    }
  }, 30_000);
});

describe("monthly retention (private.drop_monthly_partitions_before)", () => {
  it("drops ranges that end by the first kept month, never DEFAULT, a kept month or an unbounded end", async () => {
    await db.client.query(`
      CREATE TABLE analytics_events_ancient PARTITION OF analytics_events FOR VALUES FROM (MINVALUE) TO ('2000-01-01');
      CREATE TABLE analytics_events_far PARTITION OF analytics_events FOR VALUES FROM ('2100-01-01') TO (MAXVALUE);`);
    // Keeping one month keeps last month; the month before it ends where the kept one starts.
    const before = await pastMonth("analytics_events", 2);
    const kept = await pastMonth("analytics_events", 1);
    const { rows } = await db.client.query<{ name: string }>(
      "SELECT name FROM private.drop_monthly_partitions_before('analytics_events', 1) AS name",
    );
    expect(rows.map((r) => r.name)).toEqual(["analytics_events_ancient", before]);
    const left = await partitions("analytics_events");
    expect(left).toEqual(
      expect.arrayContaining([
        kept,
        "analytics_events_far",
        "analytics_events_default",
        ...expectedMonths("analytics_events"),
      ]),
    );
    await db.client.query(`DROP TABLE analytics_events_far; DROP TABLE ${kept}`);
  });

  it("deletes the DEFAULT partition's rows dated before the first kept month, not one at its start", async () => {
    // One row a microsecond before the cutoff, one at it; that month has no partition of its own.
    const { rows } = await db.client.query<{ id: string; part: string }>(
      `INSERT INTO analytics_events (event_type, job_id, created_at)
       SELECT 'edge', gen_random_uuid(), private.monthly_retention_cutoff(3) - d
         FROM (VALUES (interval '1 microsecond'), (interval '0')) v(d)
       RETURNING job_id::text AS id, tableoid::regclass::text AS part`,
    );
    expect(rows.map((r) => r.part)).toEqual(["analytics_events_default", "analytics_events_default"]);
    await db.client.query("SELECT private.delete_default_rows_before('analytics_events', 3)");
    const { rows: left } = await db.client.query<{ id: string }>(
      "SELECT job_id::text AS id FROM analytics_events WHERE event_type = 'edge'",
    );
    expect(left.map((r) => r.id)).toEqual([rows[1]?.id]);
  });

  it("refuses to keep fewer than one month", async () => {
    await expect(
      db.client.query("SELECT * FROM private.drop_monthly_partitions_before('analytics_events', 0)"),
    ).rejects.toThrow(/at least 1/);
  });
});
