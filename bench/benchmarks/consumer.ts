import type pg from "pg";
import { ADMIN_ROLES } from "../../workers/common/authz";
import { timeOrderedId } from "../../workers/common/ids";
import { type JobMessage, MESSAGE_VERSION } from "../../workers/common/jobs";
import { connect, type Datasets } from "../lib/data";
import { say } from "../lib/progress";
import { type Queue, rawWrite } from "../lib/raw-writes";
import { fmt, timeAlternating } from "../lib/stats";
import type { BenchResult, Row, Target } from "../lib/types";
import type { Platform } from "../lib/workers";

const BATCH = 100;
/** Recipients of each job in the fan-out case: an announcement to part of a community. */
const FANOUT = 20;
/** Batches each worker gets before it is timed: the first ones run cold code. */
const WARMUP = 20;
type Pair = { tenant_id: string; user_id: string };
type Authored = Pair & { post_id: string };

function envelope(
  queue: JobMessage["queue"],
  operation: JobMessage["operation"],
  pair: Pair,
  payload: unknown,
) {
  return {
    v: MESSAGE_VERSION,
    job_id: timeOrderedId(), // as the tenant worker makes them
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

/** The ceiling from Node: the same rows in one statement, on a plain connection. */
async function ceiling(client: pg.Client, queue: Queue, jobs: JobMessage[]): Promise<void> {
  const { text, params } = rawWrite(queue, jobs);
  await client.query(text, params);
}

const WRITTEN: Record<Queue, string> = {
  notifications: "SELECT count(*)::int AS n FROM notifications WHERE type = 'bench'",
  analytics: "SELECT count(*)::int AS n FROM analytics_events WHERE event_type = 'bench.view'",
  "content-updates": "SELECT count(*)::int AS n FROM posts WHERE content LIKE 'edit %'",
};

type Timing = { p50: number };

/**
 * A consumer's own time a batch: what handing a batch to an empty consumer costs is the
 * harness's (Node to workerd and back), the same for every worker measured here.
 */
function ownTime(t: Timing, harness: Timing): number {
  return Math.max(t.p50 - harness.p50, 0.01);
}

/**
 * The two rows that set a consumer against the same rows written by one plain multi-row
 * statement with no checks: from a Worker through the same driver, and from Node on an open
 * connection (the ceiling).
 */
function vsPlainStatement(
  label: string,
  rowsPerBatch: number,
  t: { harness: Timing; ours: Timing; sameRuntime: Timing; open: Timing },
  note = "",
): Row[] {
  const own = (x: Timing) => ownTime(x, t.harness);
  const perSecond = (ms: number) => (rowsPerBatch / ms) * 1000;
  return [
    {
      label: `${label} vs raw multi-row, same runtime`,
      ours: perSecond(own(t.ours)),
      baseline: perSecond(own(t.sameRuntime)),
      unit: "rows/s",
      ratio: own(t.sameRuntime) / own(t.ours),
      detail: `one plain statement from a Worker through the same driver: ${fmt(own(t.sameRuntime))} ms a batch${note}`,
    },
    {
      label: `${label} vs raw multi-row ceiling`,
      ours: perSecond(own(t.ours)),
      baseline: perSecond(t.open.p50),
      unit: "rows/s",
      ratio: t.open.p50 / own(t.ours),
      detail: `one plain statement from Node on an open connection: ${fmt(t.open.p50)} ms a batch`,
    },
  ];
}

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
    const ceilingConsumer = await platform.mf.getWorker("ceiling");
    const emptyConsumer = await platform.mf.getWorker("bare");
    const deliver = async (
      worker: typeof consumer,
      queue: Queue,
      make = () => makeBatch(queue, pairs, authored),
    ) => {
      const jobs = make();
      const result = await worker.queue(
        queue,
        jobs.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
      );
      if (result.explicitAcks.length !== jobs.length)
        throw new Error(`${queue}: ${result.explicitAcks.length}/${jobs.length} acked`);
      return jobs;
    };
    for (const queue of ["notifications", "analytics", "content-updates"] as const) {
      const size = queue === "content-updates" ? authored.length : pairs.length;
      if (size === 0) continue;
      say(`consumer: ${queue}, batches of ${size}`);
      const batchOf = (worker: typeof consumer, samples: number) => ({
        fn: () => deliver(worker, queue),
        samples,
      });
      // Every consumer and the ceiling take turns within each repetition, so background work
      // on the machine (autovacuum, the other process) lands on all of them alike.
      const [harness, ours, sameRuntime, oneRow, open] = await timeAlternating(
        [
          batchOf(emptyConsumer, opts.batches),
          batchOf(consumer, opts.batches),
          batchOf(ceilingConsumer, opts.batches),
          batchOf(oneRowConsumer, Math.max(1, Math.ceil(opts.batches / 3))),
          { fn: () => ceiling(client, queue, makeBatch(queue, pairs, authored)), samples: opts.batches },
        ],
        opts.reps,
        WARMUP,
      );
      if (!harness || !ours || !sameRuntime || !oneRow || !open) throw new Error("no timing");
      // Guard against measuring the wrong thing: the consumer must have written, not rejected
      // (one more batch of ours, since the others overwrite the same posts).
      await deliver(consumer, queue);
      const n = (await client.query<{ n: number }>(WRITTEN[queue])).rows[0]?.n ?? 0;
      if (n < size) throw new Error(`${queue}: the consumer wrote ${n} rows, expected at least ${size}`);
      const own = (t: Timing) => ownTime(t, harness);
      const perSecond = (ms: number) => (size / ms) * 1000;
      const vsOneRow = own(oneRow) / own(ours);
      const vsOpen = open.p50 / own(ours);
      const vsSameRuntime = own(sameRuntime) / own(ours);
      rows.push({
        label: `${queue} vs one row per INSERT`,
        ours: perSecond(own(ours)),
        baseline: perSecond(own(oneRow)),
        unit: "rows/s",
        ratio: vsOneRow,
        detail: `consumer time per batch of ${size}: ours ${fmt(own(ours))} ms, one-row ${fmt(own(oneRow))} ms (as delivered: ${fmt(ours.p50)} ms p50, p95 ${fmt(ours.p95)}, spread ${fmt(ours.spread)}x; one-row ${fmt(oneRow.p50)} ms; ${fmt(oneRow.p50 / ours.p50)}x; delivery alone ${fmt(harness.p50)} ms)`,
      });
      rows.push(...vsPlainStatement(queue, size, { harness, ours, sameRuntime, open }));
      targets.push({
        text: `${queue}: at least 10x the one-row baseline`,
        met: vsOneRow >= 10,
        note: `${fmt(vsOneRow)}x in consumer time (${fmt(oneRow.p50 / ours.p50)}x as delivered)`,
      });
      targets.push({
        text: `${queue}: at least 0.5 of the ceiling`,
        met: vsOpen >= 0.5,
        note: `${fmt(vsOpen)} of one statement from Node on an open connection; ${fmt(vsSameRuntime)} of one statement from a Worker`,
      });
    }
    // Fan-out: each job an admin's announcement to members of their community, as a batch of
    // them reaches the consumer. Measured against the same rows written plainly; no target.
    const announcers = (
      await client.query<{ tenant_id: string; admin: string; members: string[] }>(
        `SELECT a.tenant_id, a.user_id AS admin, m.members
           FROM (SELECT DISTINCT ON (tu.tenant_id) tu.tenant_id, tu.user_id
                   FROM tenant_users tu JOIN tenants t ON t.id = tu.tenant_id AND t.is_active
                  WHERE tu.is_admin OR tu.role = ANY($2) ORDER BY tu.tenant_id, tu.user_id) a
          CROSS JOIN LATERAL (
            SELECT array_agg(x.user_id) AS members FROM (
              SELECT tu.user_id FROM tenant_users tu
               WHERE tu.tenant_id = a.tenant_id AND tu.user_id <> a.user_id ORDER BY tu.user_id LIMIT $1) x
          ) m
          WHERE cardinality(m.members) = $1
          ORDER BY a.tenant_id LIMIT $3`,
        [FANOUT, ADMIN_ROLES, BATCH],
      )
    ).rows;
    if (announcers.length > 0) {
      const makeFanout = () =>
        Array.from({ length: BATCH }, (_, i) => {
          const a = announcers[i % announcers.length] as (typeof announcers)[number];
          return envelope(
            "notification",
            "send_notifications",
            { tenant_id: a.tenant_id, user_id: a.admin },
            {
              type: "bench",
              title: "Bench",
              message: "Hello",
              data: {},
              recipient_ids: a.members,
            },
          );
        });
      const rowsPerBatch = BATCH * FANOUT;
      say(`consumer: notifications fan-out, ${BATCH} jobs x ${FANOUT} recipients`);
      const fanoutOf = (worker: typeof consumer) => ({
        fn: () => deliver(worker, "notifications", makeFanout),
        samples: opts.batches,
      });
      const [harness, ours, sameRuntime, open] = await timeAlternating(
        [
          fanoutOf(emptyConsumer),
          fanoutOf(consumer),
          fanoutOf(ceilingConsumer),
          { fn: () => ceiling(client, "notifications", makeFanout()), samples: opts.batches },
        ],
        opts.reps,
        WARMUP,
      );
      if (!harness || !ours || !sameRuntime || !open) throw new Error("no timing");
      const written = await deliver(consumer, "notifications", makeFanout);
      const n =
        (
          await client.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM notifications WHERE job_id = ANY($1)",
            [written.map((j) => j.job_id)],
          )
        ).rows[0]?.n ?? 0;
      if (n !== rowsPerBatch)
        throw new Error(`fan-out: the consumer wrote ${n} rows, expected ${rowsPerBatch}`);
      rows.push(
        ...vsPlainStatement(
          `notifications fan-out (${BATCH} jobs x ${FANOUT} recipients)`,
          rowsPerBatch,
          { harness, ours, sameRuntime, open },
          `; ours ${fmt(ownTime(ours, harness))} ms, each recipient other than the sender checked to be a member, and every recipient for what they muted (db/migrations/0030)`,
        ),
      );
    }
  } finally {
    // The rows the runs wrote go, so repeated runs measure tables of the same size.
    await client.query("DELETE FROM notifications WHERE type = 'bench'").catch(() => undefined);
    await client.query("DELETE FROM analytics_events WHERE event_type = 'bench.view'").catch(() => undefined);
    await client.end();
  }
  return {
    name: "consumer",
    title: "Consumer throughput: batches of 100 through the real batch worker (workerd, Neon driver)",
    baselineName: "one statement per message in the same runtime; one multi-row statement (ceiling)",
    rows,
    targets,
    notes: [
      "every consumer runs in workerd and is handed the same batch by Miniflare; its own time is the median time of a batch less the median time of handing a batch to an empty consumer (shown per row as delivery alone). Ours validates every message, then makes one call per batch over Neon's SQL-over-HTTP (our local proxy emulates Neon's endpoint with pooled connections) to a database function that authorises every job and writes; the one-row baseline opens a WebSocket connection per batch and sends one statement per message (over HTTP it is slower still). The ceilings are one plain multi-row statement with no checks: from Node on an open connection, and from a Worker through the same driver as ours",
      `the fan-out rows (no target): each job of the batch an admin's notification to ${FANOUT} other members of their community, so ${BATCH * FANOUT} rows a batch, every recipient checked to be a member; against the same rows in one plain statement`,
    ],
  };
}
