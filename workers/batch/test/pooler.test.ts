import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { runCron } from "../../test-support/cron";
import { throughPooler, useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { job } from "../../test-support/jobs";
import { CRON } from "../src/cron/schedules";
import worker from "../src/index";

/**
 * Neon's pooled connection string puts a transaction-mode PgBouncer between the workers and
 * Postgres, which refuses what a direct connection takes (startup options: every session
 * through it failed before). The same runs as elsewhere, through a real PgBouncer.
 */
let db: WorkerTestDb;
let pooled: ReturnType<typeof throughPooler>;
const T = "c7000000-0000-4000-8000-000000000001";
const ADMIN = "d7000000-0000-4000-8000-000000000001";

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  pooled = throughPooler(db.url);
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${T}', 'pooled', 'Pooled');
    INSERT INTO users (id, email) VALUES ('${ADMIN}', 'pooled-admin@example.com');
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES ('${T}', '${ADMIN}', 'admin', true);
  `);
});

async function fire(cron: string) {
  const run = await runCron(worker, cron, { ...pooled });
  return { outcome: run.outcome, errors: run.errors.map((l) => `${l.msg}: ${String(l.message)}`) };
}

describe.skipIf(!env.TEST_POOLER_PROXY)(
  "through a transaction-mode pooler (PgBouncer, as Neon's -pooler endpoint)",
  () => {
    it("refreshes the view and rebuilds the directory every 5 minutes", async () => {
      expect(await fire(CRON.refreshViews)).toEqual({ outcome: "ok", errors: [] });
      expect(await db.query("SELECT tenant_slug FROM private.mv_user_communities")).toEqual([
        { tenant_slug: "pooled" },
      ]);
    });

    it("keeps partitions ahead and prunes dead jobs daily", async () => {
      const twelfth = (
        await db.query<{ name: string }>(
          `SELECT 'analytics_events_p' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '12 months', 'YYYYMM') AS name`,
        )
      )[0]?.name;
      await db.query(`DROP TABLE ${twelfth}`);
      expect(await fire(CRON.maintainPartitions)).toEqual({ outcome: "ok", errors: [] });
      expect(await db.query("SELECT to_regclass($1)::text AS r", [twelfth])).toEqual([{ r: twelfth }]);
    });

    it("writes a batch of jobs and acks it", async () => {
      const jobs = [1, 2].map(() =>
        job("send_notifications", {
          tenant_id: T,
          user_id: ADMIN,
          payload: { type: "info", title: "Pooled", message: "Through the pooler", data: {} },
        }),
      );
      const batch = createMessageBatch(
        "notifications",
        jobs.map((body, i) => ({ id: `pooled-${i}`, timestamp: new Date(), attempts: 1, body })),
      );
      const ctx = createExecutionContext();
      await worker.queue(batch, { ...env, ...pooled }, ctx);
      const result = await getQueueResult(batch, ctx);
      expect([result.explicitAcks.length, result.retryMessages]).toEqual([2, []]);
      expect(
        await db.query("SELECT count(*)::int AS n FROM notifications WHERE job_id = ANY($1::uuid[])", [
          jobs.map((j) => j.job_id),
        ]),
      ).toEqual([{ n: 2 }]);
    });
  },
);
