import pg from "pg";
import type { JobMessage } from "../../workers/common/jobs";
import { connect, type Datasets } from "../lib/data";
import { say } from "../lib/progress";
import { fmt, time } from "../lib/stats";
import type { BenchResult, Row, Target } from "../lib/types";
import type { Platform } from "../lib/workers";

const BATCH = 100;
type Queue = "notifications" | "analytics" | "content-updates";
type Pair = { tenant_id: string; user_id: string };
type Authored = Pair & { post_id: string };

function envelope(
  queue: JobMessage["queue"],
  operation: JobMessage["operation"],
  pair: Pair,
  payload: unknown,
) {
  return {
    v: 1,
    job_id: crypto.randomUUID(),
    tenant_id: pair.tenant_id,
    user_id: pair.user_id,
    priority: 1,
    created_at: new Date().toISOString(),
    queue,
    operation,
    payload,
  } as JobMessage;
}

/** One batch of each kind, with fresh job ids every call (so nothing is a duplicate). */
function makeBatch(queue: Queue, pairs: Pair[], authored: Authored[]): JobMessage[] {
  if (queue === "analytics") {
    return pairs.map((p) =>
      envelope("analytics", "record_analytics", p, { event_type: "bench.view", properties: { n: 1 } }),
    );
  }
  if (queue === "notifications") {
    return pairs.map((p) =>
      envelope("notification", "send_notifications", p, {
        type: "bench",
        title: "Bench",
        message: "Hello",
        data: {},
      }),
    );
  }
  return authored.map((a) =>
    envelope("content_update", "update_content", a, {
      content_type: "posts",
      content_id: a.post_id,
      updates: { content: `edit ${Date.now()}` },
    }),
  );
}

/** The ceiling: the same rows in one statement, on a plain Node connection. */
async function ceiling(client: pg.Client, queue: Queue, jobs: JobMessage[]): Promise<void> {
  const cols = [
    jobs.map((j) => j.job_id),
    jobs.map((j) => j.user_id),
    jobs.map((j) => j.tenant_id),
    jobs.map((j) => j.created_at),
  ];
  const from =
    "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[]) AS x(j, u, t, c) ON CONFLICT DO NOTHING";
  if (queue === "analytics") {
    await client.query(
      `INSERT INTO analytics_events (job_id, user_id, tenant_id, created_at, event_type, properties) SELECT j, u, t, c, 'bench.view', '{"n":1}' ${from}`,
      cols,
    );
  } else if (queue === "notifications") {
    await client.query(
      `INSERT INTO notifications (job_id, user_id, tenant_id, created_at, type, title, message) SELECT j, u, t, c, 'bench', 'Bench', 'Hello' ${from}`,
      cols,
    );
  } else {
    await client.query(
      "UPDATE posts p SET content = 'direct edit', updated_at = v.c FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, c) WHERE p.id = v.id",
      [jobs.map((j) => (j.payload as { content_id: string }).content_id), cols[3]],
    );
  }
}

const WRITTEN: Record<Queue, string> = {
  notifications: "SELECT count(*)::int AS n FROM notifications WHERE type = 'bench'",
  analytics: "SELECT count(*)::int AS n FROM analytics_events WHERE event_type = 'bench.view'",
  "content-updates": "SELECT count(*)::int AS n FROM posts WHERE content LIKE 'edit %'",
};

export async function consumerBench(
  platform: Platform,
  ds: Datasets,
  opts: { batches: number; reps: number },
): Promise<BenchResult> {
  const client = await connect(ds.ours);
  const rows: Row[] = [];
  const targets: Target[] = [];
  try {
    const pairs = (
      await client.query<Pair>(
        "SELECT tenant_id, user_id FROM tenant_users ORDER BY tenant_id, user_id LIMIT $1",
        [BATCH],
      )
    ).rows;
    const authored = (
      await client.query<Authored>(
        // Edits by an admin of each post's community: authorised, as a moderator's would be.
        `SELECT DISTINCT ON (p.id) p.id AS post_id, p.tenant_id, tu.user_id FROM posts p
           JOIN tenant_users tu ON tu.tenant_id = p.tenant_id AND tu.is_admin
          WHERE p.deleted_at IS NULL ORDER BY p.id LIMIT $1`,
        [BATCH],
      )
    ).rows;
    const consumer = await platform.mf.getWorker("batch");
    const oneRowConsumer = await platform.mf.getWorker("one-row");
    const emptyConsumer = await platform.mf.getWorker("bare");
    const deliver = async (worker: typeof consumer, queue: Queue) => {
      const jobs = makeBatch(queue, pairs, authored);
      const result = await worker.queue(
        queue,
        jobs.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
      );
      if (result.explicitAcks.length !== jobs.length)
        throw new Error(`${queue}: ${result.explicitAcks.length}/${jobs.length} acked`);
    };
    for (const queue of ["notifications", "analytics", "content-updates"] as const) {
      const size = queue === "content-updates" ? authored.length : pairs.length;
      if (size === 0) continue;
      say(`consumer: ${queue}, batches of ${size}`);
      const ours = await time(() => deliver(consumer, queue), opts.batches, opts.reps);
      // Guard against measuring the wrong thing: the consumer must have written, not rejected.
      const n = (await client.query<{ n: number }>(WRITTEN[queue])).rows[0]?.n ?? 0;
      if (n < size) throw new Error(`${queue}: the consumer wrote ${n} rows, expected at least ${size}`);
      const oneRow = await time(
        () => deliver(oneRowConsumer, queue),
        Math.max(1, Math.ceil(opts.batches / 3)),
        opts.reps,
      );
      const open = await time(
        () => ceiling(client, queue, makeBatch(queue, pairs, authored)),
        opts.batches,
        opts.reps,
      );
      const fresh = await time(
        async () => {
          const c = new pg.Client({ connectionString: ds.ours });
          await c.connect();
          await ceiling(c, queue, makeBatch(queue, pairs, authored));
          await c.end();
        },
        opts.batches,
        opts.reps,
      );
      const harness = await time(() => deliver(emptyConsumer, queue), opts.batches, opts.reps);
      const perSecond = (ms: number) => (size / ms) * 1000;
      rows.push({
        label: `${queue} vs one row per INSERT`,
        ours: perSecond(ours.p50),
        baseline: perSecond(oneRow.p50),
        unit: "rows/s",
        ratio: oneRow.p50 / ours.p50,
        detail: `batch of ${size}: ours p50 ${fmt(ours.p50)} ms (p95 ${fmt(ours.p95)}, spread ${fmt(ours.spread)}x), one-row ${fmt(oneRow.p50)} ms; delivering a batch to an empty consumer costs ${fmt(harness.p50)} ms of each`,
      });
      rows.push({
        label: `${queue} vs raw multi-row ceiling`,
        ours: perSecond(ours.p50),
        baseline: perSecond(open.p50),
        unit: "rows/s",
        ratio: open.p50 / ours.p50,
        detail: `ceiling ${fmt(open.p50)} ms on an open connection, ${fmt(fresh.p50)} ms opening one per batch`,
      });
      targets.push({
        text: `${queue}: at least 10x the one-row baseline`,
        met: oneRow.p50 / ours.p50 >= 10,
        note: `${fmt(oneRow.p50 / ours.p50)}x`,
      });
      targets.push({
        text: `${queue}: at least 0.5 of the ceiling`,
        met: open.p50 / ours.p50 >= 0.5,
        note: `${fmt(open.p50 / ours.p50)}; against a ceiling that also connects per batch ${fmt(fresh.p50 / ours.p50)}`,
      });
    }
  } finally {
    await client.query("DELETE FROM notifications WHERE type = 'bench'").catch(() => undefined);
    await client.end();
  }
  return {
    name: "consumer",
    title: "Consumer throughput: batches of 100 through the real batch worker (workerd, Neon driver)",
    baselineName: "one statement per message in the same runtime; one multi-row statement (ceiling)",
    rows,
    targets,
    notes: [
      "ours and the one-row baseline run in workerd with the Neon driver and open a connection per batch, as a Worker must (sockets do not outlive an invocation); ours also loads the memberships it authorises against. The ceiling is one multi-row statement from Node",
    ],
  };
}
