import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { openDb, openSql } from "../../common/db";
import { DIRECTORY_KEY } from "../../common/directory";
import { runCron } from "../../test-support/cron";
import {
  inSession,
  type PlanNode,
  planNodes,
  rowsRead,
  UNREACHABLE_PROXY,
  useWorkerTestDatabase,
  type WorkerTestDb,
} from "../../test-support/db";
import { brokenKv } from "../../test-support/kv";
import { createPastMonthPartition } from "../../test-support/postgres";
import { PRUNE_NOTIFICATIONS_SQL, pruneNotifications } from "../src/cron/prune-notifications";
import { CRON } from "../src/cron/schedules";
import worker from "../src/index";

let db: WorkerTestDb;
beforeAll(async () => {
  db = await useWorkerTestDatabase();
});

/** Runs `cron` on this file's database; a run that fails rejects with its error's message. */
async function fire(cron: string, vars: Partial<typeof env> = {}) {
  const run = await runCron(worker, cron, { DATABASE_URL: db.url, ...vars });
  if (run.outcome !== "ok") throw new Error(run.outcome);
}

/** How a run ended ("ok" or its error's message), what its error lines say, and its other lines. */
async function fireLogged(cron: string, vars: Partial<typeof env> = {}) {
  const run = await runCron(worker, cron, { DATABASE_URL: db.url, ...vars });
  return { ...run, errors: run.errors.map((l) => l.msg) };
}

describe("a cron the handler does not know", () => {
  it("fails its run with an error line, instead of running nothing quietly", async () => {
    const run = await fireLogged("0 4 * * *");
    expect(run.outcome).toBe("unknown cron 0 4 * * *");
    expect(run.errors).toHaveLength(1);
    expect(run.errors[0]).toMatch(/^unknown cron/);
  });
});

describe("view refresh cron", () => {
  it("refreshes private.mv_user_communities, records when, and rebuilds the tenant directory", async () => {
    const [before] = await db.query<{ refreshed_at: Date }>(
      "SELECT refreshed_at FROM private.view_refreshes WHERE view_name = 'private.mv_user_communities'",
    );
    await db.query(`
      INSERT INTO users (id, email) VALUES ('00000000-0000-4000-8000-000000000001', 'a@example.com');
      INSERT INTO tenants (id, slug, name) VALUES ('00000000-0000-4000-8000-0000000000a1', 'acme', 'Acme');
      INSERT INTO tenant_users (tenant_id, user_id) VALUES ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001');
    `);
    expect(await db.query("SELECT 1 FROM private.mv_user_communities")).toHaveLength(0);
    await fire(CRON.refreshViews);
    const rows = await db.query<{ tenant_slug: string; member_count: string }>(
      "SELECT tenant_slug, member_count FROM private.mv_user_communities",
    );
    expect(rows).toEqual([{ tenant_slug: "acme", member_count: "1" }]);
    const [after] = await db.query<{ refreshed_at: Date }>(
      "SELECT refreshed_at FROM private.view_refreshes WHERE view_name = 'private.mv_user_communities'",
    );
    const directory = await env.TENANT_CACHE.getWithMetadata<{ items: number }>(DIRECTORY_KEY, "arrayBuffer");
    expect(directory.metadata?.items).toBe(1);
    expect(new Date(after?.refreshed_at ?? 0).getTime()).toBeGreaterThan(
      new Date(before?.refreshed_at ?? 0).getTime(),
    );
  });

  it("carries a refresh that outlasts 10 s through (held up by a long read of the copy it rebuilds), as its 10-minute limit allows", async () => {
    // Two runs: both copies hold rows, so either can be read.
    await fire(CRON.refreshViews);
    await fire(CRON.refreshViews);
    const [state] = await db.query<{ live_copy: string }>(
      "SELECT live_copy FROM private.view_refreshes WHERE view_name = 'private.mv_user_communities'",
    );
    const idle = state?.live_copy === "a" ? "b" : "a";
    // Rebuilding the idle copy waits for this read to end (REFRESH takes ACCESS EXCLUSIVE).
    const handle = openDb({ DATABASE_URL: db.url, LOCAL_DB_PROXY: env.LOCAL_DB_PROXY });
    const reader = await handle.pool.connect();
    await reader.query("BEGIN");
    await reader.query(`SELECT count(*) FROM private.mv_user_communities_${idle}`);
    const ended = new Promise<void>((resolve) =>
      setTimeout(() => {
        reader
          .query("ROLLBACK")
          .finally(() => reader.release())
          .then(() => resolve());
      }, 11_000),
    );
    try {
      const run = await fireLogged(CRON.refreshViews);
      expect([run.outcome, run.errors]).toEqual(["ok", []]);
    } finally {
      await ended;
      await handle.close();
    }
    const [after] = await db.query<{ live_copy: string }>(
      "SELECT live_copy FROM private.view_refreshes WHERE view_name = 'private.mv_user_communities'",
    );
    expect(after?.live_copy).toBe(idle);
  }, 30_000);
});

describe("partition maintenance cron", () => {
  it("recreates missing months up to 12 ahead, next month's and the twelfth, of both partitioned tables", async () => {
    const names = (
      await db.query<{ name: string }>(
        `SELECT t || '_p' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m), 'YYYYMM') AS name
           FROM unnest(ARRAY['analytics_events', 'journey_activities']) t, unnest(ARRAY[1, 12]) m`,
      )
    ).map((r) => r.name);
    const existing = async () =>
      (
        await db.query<{ r: string | null }>("SELECT to_regclass(n)::text AS r FROM unnest($1::text[]) n", [
          names,
        ])
      )
        .map((r) => r.r)
        .filter((r) => r !== null);
    for (const name of names) await db.query(`DROP TABLE ${name}`);
    expect(await existing()).toEqual([]);
    await fire(CRON.maintainPartitions);
    expect(await existing()).toEqual(names);
  });

  it("keeps one table's partitions when another's lock cannot be had, and fails the run for that one", async () => {
    const twelfth = async (table: string) =>
      (
        await db.query<{ name: string }>(
          `SELECT $1 || '_p' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '12 months', 'YYYYMM') AS name`,
          [table],
        )
      )[0]?.name as string;
    const [journeys, analytics] = [await twelfth("journey_activities"), await twelfth("analytics_events")];
    await db.query(`DROP TABLE ${journeys}; DROP TABLE ${analytics}`);
    // A long read of journey_activities: creating its month gives up on the lock after 5 s.
    await inSession(db, async (reader) => {
      await reader.query("BEGIN");
      await reader.query("SELECT count(*) FROM journey_activities");
      try {
        const run = await fireLogged(CRON.maintainPartitions);
        expect([run.outcome, run.errors]).toEqual([
          "partition maintenance failed",
          ["partition maintenance failed"],
        ]);
      } finally {
        await reader.query("ROLLBACK");
      }
    });
    const exists = async (name: string) =>
      (await db.query<{ r: string | null }>("SELECT to_regclass($1)::text AS r", [name]))[0]?.r ?? null;
    expect([await exists(journeys), await exists(analytics)]).toEqual([null, analytics]);
    await fire(CRON.maintainPartitions);
    expect(await exists(journeys)).toBe(journeys);
  }, 30_000);
});

describe("analytics retention (daily cron)", () => {
  /** A month's partition, `back` months before the current one (UTC), with one event in it. */
  async function oldMonth(back: number, table = "analytics_events"): Promise<string> {
    const { name, start } = await createPastMonthPartition(db.query, table, back);
    if (table === "analytics_events") {
      await db.query(
        `INSERT INTO analytics_events (event_type, created_at, job_id) VALUES ('old', '${start}', gen_random_uuid())`,
      );
    }
    return name;
  }
  const exists = async (name: string) =>
    (await db.query<{ r: string | null }>("SELECT to_regclass($1)::text AS r", [name]))[0]?.r === name;

  it("keeps every month by default, and drops whole months past ANALYTICS_RETENTION_MONTHS when set", async () => {
    const past = await oldMonth(14);
    const kept = await oldMonth(12);
    const journeys = await oldMonth(14, "journey_activities");
    await fire(CRON.maintainPartitions);
    expect([await exists(past), await exists(kept)]).toEqual([true, true]);

    await fire(CRON.maintainPartitions, { ANALYTICS_RETENTION_MONTHS: "12" });
    // Journeys are users' own content: analytics' retention leaves them alone.
    expect([await exists(past), await exists(kept), await exists(journeys)]).toEqual([false, true, true]);
    const [current] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'analytics_events'::regclass",
    );
    expect(current?.n).toBeGreaterThanOrEqual(15); // this month, 12 ahead, the DEFAULT, the kept one
  });

  it("deletes rows past the retention from the DEFAULT partition too, where a job replayed after its month was dropped lands", async () => {
    /** An event dated `back` months before this one, in a month without a partition. */
    const late = async (back: number) => {
      const [row] = await db.query<{ id: string; part: string }>(
        `INSERT INTO analytics_events (event_type, created_at, job_id)
         VALUES ('late', (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $1)
                          + interval '1 day') AT TIME ZONE 'UTC', gen_random_uuid())
         RETURNING job_id::text AS id, tableoid::regclass::text AS part`,
        [back],
      );
      expect(row?.part).toBe("analytics_events_default");
      return row?.id;
    };
    await late(20);
    const within = await late(11);
    await fire(CRON.maintainPartitions);
    expect(
      await db.query("SELECT count(*)::int AS n FROM analytics_events WHERE event_type = 'late'"),
    ).toEqual([{ n: 2 }]);

    const run = await fireLogged(CRON.maintainPartitions, { ANALYTICS_RETENTION_MONTHS: "12" });
    // The run says what it deleted, and warns of the row still in the DEFAULT partition.
    expect(run.warnings.find((l) => l.table === "public.analytics_events")).toMatchObject({
      default_deleted: 1,
      default_rows: 1,
    });
    const left = await db.query<{ id: string }>(
      "SELECT job_id::text AS id FROM analytics_events WHERE event_type = 'late'",
    );
    expect(left.map((r) => r.id)).toEqual([within]);
  });
});

describe("dead jobs retention (daily cron)", () => {
  it("deletes settled dead jobs past the retention, keeps recent ones and exhausted jobs never replayed", async () => {
    const id = (n: number) => `ded00000-0000-4000-8000-${String(n).padStart(12, "0")}`;
    // [job, kind, died days ago, replayed days ago]
    const rows: [number, string, number, number | null][] = [
      [1, "invalid", 31, null], // gone: malformed, past the retention
      [2, "rejected", 31, null], // gone: refused, past it
      [3, "rejected", 5, null], // kept: refused recently
      [4, "exhausted", 40, 31], // gone: replayed past the retention
      [5, "exhausted", 40, 5], // kept: replayed recently (it could still die again)
      [6, "exhausted", 90, null], // kept: a write still waiting for its replay
      [7, "rejected", 2, null], // kept: died again recently after an old replay (see below)
    ];
    await db.query(
      `INSERT INTO dead_jobs (job_id, queue, kind, message, error, created_at, replayed_at)
       SELECT j, 'notifications', k, '{}', 'test', now() - make_interval(days => d),
              CASE WHEN r IS NULL THEN NULL ELSE now() - make_interval(days => r) END
         FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[]) AS x(j, k, d, r)`,
      [rows.map((r) => id(r[0])), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[3])],
    );
    await fire(CRON.maintainPartitions);
    const left = await db.query<{ job_id: string }>(
      "SELECT job_id FROM dead_jobs WHERE job_id::text LIKE 'ded00000-%' ORDER BY job_id",
    );
    expect(left.map((r) => r.job_id)).toEqual([3, 5, 6, 7].map(id));
  });

  it("clears a backlog past one statement's chunk in one run, and keeps and counts as waiting only exhausted jobs a replay can send", async () => {
    await db.query("DELETE FROM dead_jobs");
    // A broken producer's month: more malformed messages than one delete takes (5,000).
    await db.query(
      `INSERT INTO dead_jobs (job_id, queue, kind, message, error, created_at)
       SELECT gen_random_uuid(), 'notifications', 'invalid', '{}', 'test', now() - interval '31 days'
         FROM generate_series(1, 5001)`,
    );
    // Two writes that ran out of retries long ago: one names its job, one (no job id) cannot be
    // replayed, so it goes as a malformed message would.
    await db.query(
      `INSERT INTO dead_jobs (job_id, queue, kind, message, error, created_at) VALUES
         (gen_random_uuid(), 'notifications', 'exhausted', '{}', 'test', now() - interval '40 days'),
         (NULL, 'unknown', 'exhausted', '{}', 'test', now() - interval '40 days')`,
    );
    const run = await fireLogged(CRON.maintainPartitions);
    expect(run.outcome).toBe("ok");
    const report = run.warnings.find((l) => "waiting_exhausted" in l);
    expect(report).toMatchObject({ deleted: 5002, waiting_exhausted: 1 });
    const left = await db.query<{ kind: string; named: boolean }>(
      "SELECT kind, job_id IS NOT NULL AS named FROM dead_jobs",
    );
    expect(left).toEqual([{ kind: "exhausted", named: true }]);
  });
});

describe("notifications retention (daily cron)", () => {
  const user = "00000000-0000-4000-8000-00000000f001";
  const tenant = "00000000-0000-4000-8000-00000000f0a1";
  beforeAll(async () => {
    await db.query(`
      INSERT INTO users (id, email) VALUES ('${user}', 'inbox@example.com');
      INSERT INTO tenants (id, slug, name) VALUES ('${tenant}', 'inbox', 'Inbox');`);
  });
  /**
   * A notification `days` old. Its id is made as the consumer's are, but at that time; `legacy`:
   * a random id as rows had before db/migrations/0016, one that sorts before today's ids.
   */
  const notify = (type: string, days: number, opts: { read?: boolean; legacy?: boolean } = {}) => {
    const at = `now() - make_interval(days => ${days})`;
    const id = opts.legacy
      ? "encode(set_byte(uuid_send(gen_random_uuid()), 0, 0), 'hex')::uuid"
      : `encode(overlay(uuid_send(gen_random_uuid()) placing substring(int8send(floor(date_part('epoch', ${at}) * 1000)::bigint) from 3) from 1 for 6), 'hex')::uuid`;
    return db.query(
      `INSERT INTO notifications (id, user_id, tenant_id, type, title, message, is_read, created_at, job_id)
       VALUES (${id}, '${user}', '${tenant}', '${type}', 't', 'm', ${opts.read ?? false}, ${at}, gen_random_uuid())`,
    );
  };
  const left = async () =>
    (await db.query<{ type: string }>("SELECT type FROM notifications ORDER BY type")).map((r) => r.type);

  it("keeps every notification by default, and deletes those past NOTIFICATIONS_RETENTION_DAYS when set, read or not", async () => {
    await notify("old-read", 40, { read: true });
    await notify("old-unread", 40);
    await notify("within", 29);
    await notify("today", 0);
    await notify("legacy-old", 40, { legacy: true });
    await notify("legacy-today", 0, { legacy: true });
    await fire(CRON.maintainPartitions);
    expect(await left()).toHaveLength(6);

    const run = await fireLogged(CRON.maintainPartitions, { NOTIFICATIONS_RETENTION_DAYS: "30" });
    expect(run.outcome).toBe("ok");
    expect(run.infos.find((l) => l.msg === "notifications pruned")).toMatchObject({
      retention_days: 30,
      deleted: 3,
      more: false,
    });
    // A row with an id from before time-ordered ids goes by its own date.
    expect(await left()).toEqual(["legacy-today", "today", "within"]);
  });

  it("keeps everything under a retention it cannot read, and says which var and what it used instead", async () => {
    await notify("old-kept", 40);
    const vars = {
      NOTIFICATIONS_RETENTION_DAYS: "30d",
      ANALYTICS_RETENTION_MONTHS: "a year",
      DEAD_JOBS_RETENTION_DAYS: "0",
    };
    const run = await fireLogged(CRON.maintainPartitions, vars);
    expect(run.outcome).toBe("ok");
    expect(await left()).toContain("old-kept");
    const said = (r: typeof run) =>
      r.warnings.filter((l) => l.msg === "var not understood").map((l) => [l.var, l.value, l.used]);
    expect(said(run)).toEqual(
      expect.arrayContaining([
        ["NOTIFICATIONS_RETENTION_DAYS", "30d", 0],
        ["ANALYTICS_RETENTION_MONTHS", "a year", 0],
        ["DEAD_JOBS_RETENTION_DAYS", "0", 30],
      ]),
    );
    expect(said(run)).toHaveLength(3);
    // Once an isolate: the next day's run reads them again and says nothing more.
    expect(said(await fireLogged(CRON.maintainPartitions, vars))).toEqual([]);
  });

  it("deletes a chunk at a time until none is left, or leaves the rest to the next run once its time is spent", async () => {
    await db.query("DELETE FROM notifications");
    await db.query(
      `INSERT INTO notifications (id, user_id, tenant_id, type, title, message, created_at, job_id)
       SELECT encode(overlay(uuid_send(gen_random_uuid()) placing substring(int8send(floor(date_part('epoch', at) * 1000)::bigint) from 3) from 1 for 6), 'hex')::uuid,
              '${user}', '${tenant}', 'old', 't', 'm', at, gen_random_uuid()
         FROM (SELECT now() - make_interval(days => 31, secs => g) AS at FROM generate_series(1, 10_050) g) s`,
    );
    // A run whose budget is spent after its first chunk leaves the rest to the next day's.
    let clock = 0;
    const spent = await pruneNotifications(openSql({ ...env, DATABASE_URL: db.url }), 30, () => {
      clock += 60_000;
      return clock;
    });
    expect(spent).toEqual({ ok: true, value: { retention_days: 30, deleted: 10_000, more: true } });
    const run = await fireLogged(CRON.maintainPartitions, { NOTIFICATIONS_RETENTION_DAYS: "30" });
    expect(run.infos.find((l) => l.msg === "notifications pruned")).toMatchObject({
      deleted: 50,
      more: false,
    });
    expect(await left()).toEqual([]);
  });

  it("reads the old notifications alone to find them, however many newer ones there are", async () => {
    await db.query("DELETE FROM notifications");
    for (let i = 0; i < 20; i++) await notify("old", 40);
    await db.query(
      `INSERT INTO notifications (user_id, tenant_id, type, title, message, job_id)
       SELECT '${user}', '${tenant}', 'new', 't', 'm', gen_random_uuid() FROM generate_series(1, 300)`,
    );
    const nodes = await planNodes(db, PRUNE_NOTIFICATIONS_SQL, [30, 10_000]);
    const reads = (n: PlanNode) => n["Relation Name"] === "notifications" && n["Node Type"] !== "ModifyTable";
    expect(nodes.filter(reads).map(rowsRead)).toEqual([20, 20]); // the walk, then the 20 deleted by key
    expect(await db.query("SELECT count(*)::int AS n FROM notifications")).toEqual([{ n: 300 }]);
  });
});

describe("a cron run that fails", () => {
  it("fails the run when the view cannot be refreshed, so the platform records the failure, and logs why", async () => {
    const run = await fireLogged(CRON.refreshViews, { LOCAL_DB_PROXY: UNREACHABLE_PROXY });
    expect(run.outcome).toBe("view refresh failed");
    expect(run.errors).toEqual(
      expect.arrayContaining(["tenant directory rebuild failed", "view refresh failed"]),
    );
  });

  it("still refreshes the view when the tenant directory cannot be stored", async () => {
    const [before] = await db.query<{ at: string }>(
      "SELECT refreshed_at::text AS at FROM private.view_refreshes WHERE view_name = 'private.mv_user_communities'",
    );
    const run = await fireLogged(CRON.refreshViews, { TENANT_CACHE: brokenKv() });
    expect(run.errors).toEqual(["tenant directory rebuild failed"]);
    expect(run.outcome).toBe("ok");
    const [after] = await db.query<{ at: string }>(
      "SELECT refreshed_at::text AS at FROM private.view_refreshes WHERE view_name = 'private.mv_user_communities'",
    );
    expect(after?.at).not.toBe(before?.at);
  });

  it("fails the daily run when partitions cannot be kept, after pruning has been tried too", async () => {
    const run = await fireLogged(CRON.maintainPartitions, {
      LOCAL_DB_PROXY: UNREACHABLE_PROXY,
      NOTIFICATIONS_RETENTION_DAYS: "30",
    });
    expect(run.outcome).toBe("partition maintenance failed");
    // One line a table, then each pruning's.
    expect(run.errors).toEqual([
      "partition maintenance failed",
      "partition maintenance failed",
      "dead jobs pruning failed",
      "notifications pruning failed",
    ]);
  });

  it("fails the daily run when only pruning fails, once the partitions are kept", async () => {
    // A refusal of this test database only, standing in for a prune that fails on its own.
    await db.query(`
      CREATE FUNCTION refuse_for_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
      CREATE TRIGGER refuse_prune BEFORE DELETE ON dead_jobs FOR EACH ROW EXECUTE FUNCTION refuse_for_test();
      INSERT INTO dead_jobs (job_id, queue, kind, message, error, created_at)
        VALUES (gen_random_uuid(), 'notifications', 'invalid', '{}', 'test', now() - interval '31 days');`);
    try {
      const run = await fireLogged(CRON.maintainPartitions);
      expect(run.outcome).toBe("dead jobs pruning failed");
      expect(run.errors).toEqual(["dead jobs pruning failed"]);
    } finally {
      await db.query("DROP TRIGGER refuse_prune ON dead_jobs; DROP FUNCTION refuse_for_test()");
    }
  });

  it("warns of a single row in a DEFAULT partition: the monthly partitions are behind", async () => {
    await db.query(`
      DELETE FROM analytics_events_default;
      INSERT INTO analytics_events (event_type, job_id, created_at) VALUES ('far', gen_random_uuid(), now() + interval '3 years');`);
    const run = await fireLogged(CRON.maintainPartitions);
    expect(run.outcome).toBe("ok");
    expect(run.warnings.find((l) => l.table === "public.analytics_events")).toMatchObject({
      msg: "rows in DEFAULT partition: monthly partitions are behind or dates are far off",
      default_rows: 1,
    });
  });

  it("counts journey activities in the DEFAULT partition without a warning: a trip from years back lives there", async () => {
    await db.query(`
      INSERT INTO users (id, email) VALUES ('d6000000-0000-4000-8000-000000000001', 'traveller@cron.test')
        ON CONFLICT DO NOTHING;
      INSERT INTO user_journeys (id, user_id, title) VALUES
        ('d6000000-0000-4000-8000-000000000002', 'd6000000-0000-4000-8000-000000000001', 'Long ago')
        ON CONFLICT DO NOTHING;
      INSERT INTO journey_activities (journey_id, activity_type, title, start_datetime)
        VALUES ('d6000000-0000-4000-8000-000000000002', 'visit', 'In 1999', '1999-06-01T00:00:00Z');`);
    const run = await fireLogged(CRON.maintainPartitions);
    expect(run.outcome).toBe("ok");
    expect(run.warnings.filter((l) => l.table === "public.journey_activities")).toEqual([]);
    expect(run.infos.find((l) => l.table === "public.journey_activities")).toMatchObject({
      msg: "partitions ready",
      default_rows: expect.any(Number),
      default_rows_expected: true,
    });
  });
});

describe("GET /health", () => {
  it("answers ok with the database", async () => {
    const res = await worker.fetch(new Request("http://batch.local/health"), {
      ...env,
      DATABASE_URL: db.url,
    });
    expect([res.status, res.headers.get("cache-control")]).toEqual([200, "no-store"]);
    expect(await res.json()).toEqual({ status: "ok", db: "ok" });
  });

  it("answers 503 in the error shape within 3 seconds when the database is unreachable", async () => {
    const started = Date.now();
    const res = await worker.fetch(new Request("http://batch.local/health"), {
      ...env,
      DATABASE_URL: db.url,
      LOCAL_DB_PROXY: UNREACHABLE_PROXY,
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string; request_id: string } };
    expect(body.error.code).toBe("service_unavailable");
    expect(body.error.request_id).toBe(res.headers.get("x-request-id"));
  });
});
