import pg from "pg";
import { type Datasets, tenantId, userId } from "../lib/data";
import { say } from "../lib/progress";
import { fmt } from "../lib/stats";
import type { BenchResult } from "../lib/types";

const BARE = `CREATE TABLE IF NOT EXISTS bench_bare_posts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL, user_id uuid NOT NULL, content text NOT NULL,
  total_likes integer NOT NULL DEFAULT 0, total_comments integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz)`;

/** Single-row inserts for at most `seconds` or `max` rows; inserts per second. */
async function rate(
  client: pg.Client,
  table: string,
  seconds: number,
  max: number,
): Promise<{ perSecond: number; n: number }> {
  const started = performance.now();
  let n = 0;
  while (n < max && performance.now() - started < seconds * 1000) {
    await client.query(`INSERT INTO ${table} (tenant_id, user_id, content) VALUES ($1, $2, 'bench insert')`, [
      tenantId(1 + (n % 3)),
      userId(1),
    ]);
    n++;
  }
  return { perSecond: n / ((performance.now() - started) / 1000), n };
}

/**
 * Write amplification: the original refreshes its whole view after every statement on posts;
 * ours leaves that to the cron. Inserted rows are removed afterwards (with the original's
 * triggers off, or the removal would refresh its view once more).
 */
export async function writesBench(
  ds: Datasets,
  opts: { seconds: number; originalSeconds: number },
): Promise<BenchResult> {
  const ours = new pg.Client({ connectionString: ds.ours, options: "-c statement_timeout=0" });
  const original = new pg.Client({ connectionString: ds.original, options: "-c statement_timeout=0" });
  await ours.connect();
  await original.connect();
  try {
    await ours.query(BARE);
    say("writes: bare table");
    const bare = await rate(ours, "bench_bare_posts", opts.seconds, 5000);
    say("writes: ours");
    const our = await rate(ours, "posts", opts.seconds, 5000);
    say(`writes: original, with its refresh triggers (at most ${opts.originalSeconds} s)`);
    const orig = await rate(original, "posts", opts.originalSeconds, 5000);
    await ours.query("DELETE FROM posts WHERE content = 'bench insert'");
    await ours.query("DROP TABLE bench_bare_posts");
    await original.query("ALTER TABLE posts DISABLE TRIGGER USER");
    await original.query("DELETE FROM posts WHERE content = 'bench insert'");
    await original.query("ALTER TABLE posts ENABLE TRIGGER USER");
    const overhead = bare.perSecond / our.perSecond;
    return {
      name: "writes",
      title: "Write amplification: single-row post inserts per second",
      baselineName: "original schema with its per-statement refresh triggers",
      rows: [
        {
          label: "ours vs original",
          ours: our.perSecond,
          baseline: orig.perSecond,
          unit: "inserts/s",
          ratio: our.perSecond / orig.perSecond,
          detail: `${our.n} vs ${orig.n} inserts`,
        },
        {
          label: "ours vs bare table",
          ours: our.perSecond,
          baseline: bare.perSecond,
          unit: "inserts/s",
          ratio: our.perSecond / bare.perSecond,
          detail: `${our.n} vs ${bare.n} inserts`,
        },
      ],
      targets: [
        {
          text: "an insert into our schema costs at most 1.1x an insert into a bare posts table",
          met: overhead <= 1.1,
          note: `${fmt(overhead)}x`,
        },
      ],
      notes:
        orig.n < 3
          ? ["the original managed fewer than 3 inserts in its time cap: its rate is a rough figure"]
          : [],
    };
  } finally {
    await ours.end();
    await original.end();
  }
}
