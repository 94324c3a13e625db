import {
  createExecutionContext,
  createScheduledController,
  env,
  waitOnExecutionContext,
} from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { DIRECTORY_KEY } from "../../common/directory";
import { UNREACHABLE_PROXY, useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { CRON } from "../src/cron/schedules";
import worker from "../src/index";

let db: WorkerTestDb;
beforeAll(async () => {
  db = await useWorkerTestDatabase();
});

async function fire(cron: string) {
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ cron, scheduledTime: Date.now() }),
    { ...env, DATABASE_URL: db.url },
    ctx,
  );
  await waitOnExecutionContext(ctx);
}

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
});

describe("partition maintenance cron", () => {
  it("recreates next month's partition when it is missing", async () => {
    const [{ name } = { name: "" }] = await db.query<{ name: string }>(
      "SELECT 'analytics_events_p' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month', 'YYYYMM') AS name",
    );
    await db.query(`DROP TABLE ${name}`);
    expect(await db.query("SELECT to_regclass($1) AS r", [name])).toEqual([{ r: null }]);
    await fire(CRON.maintainPartitions);
    expect(await db.query("SELECT to_regclass($1)::text AS r", [name])).toEqual([{ r: name }]);
  });
});

describe("GET /health", () => {
  it("answers ok with the database", async () => {
    const res = await worker.fetch(new Request("http://batch.local/health"), {
      ...env,
      DATABASE_URL: db.url,
    });
    expect(res.status).toBe(200);
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
