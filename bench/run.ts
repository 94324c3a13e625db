import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { BASELINE_SQL } from "../db/local/baseline";
import { LOCAL_DIR, ROOT } from "../db/local/config";
import { startLocalPostgres } from "../db/local/postgres";
import { consumerBench } from "./benchmarks/consumer";
import { feedBench } from "./benchmarks/feed";
import { idsBench } from "./benchmarks/ids";
import { tenantBench } from "./benchmarks/tenant";
import { viewBench } from "./benchmarks/view";
import { writesBench } from "./benchmarks/writes";
import { prepareDatasets } from "./lib/data";
import { say } from "./lib/progress";
import { markdown, svgChart } from "./lib/report";
import type { BenchResult, Sizes } from "./lib/types";
import { startPlatform } from "./lib/workers";

/**
 * `npm run bench [-- <name>...] [--smoke] [--posts=N ...]`: every benchmark in one run against
 * embedded Postgres (or DATABASE_URL), each printed as ratios against a baseline measured in the
 * same run, and written to bench/results/<date>.md with a chart. --smoke: tiny sizes, numbers
 * only checked to exist (part of npm test, so the harness never rots).
 */
const NAMES = ["tenant", "feed", "view", "writes", "ids", "consumer"] as const;
type Name = (typeof NAMES)[number];

const args = process.argv.slice(2);
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const smoke = args.includes("--smoke");
const chosen = args.filter((a) => !a.startsWith("--"));
const unknown = chosen.filter((n) => !(NAMES as readonly string[]).includes(n));
if (unknown.length > 0) {
  say(`unknown benchmark ${unknown.join(", ")}; choose from ${NAMES.join(", ")}`);
  process.exit(2);
}
const run = (name: Name) => chosen.length === 0 || chosen.includes(name);
const num = (name: string, full: number, tiny: number) => Number(flag(name) ?? (smoke ? tiny : full));

const sizes: Sizes = {
  tenants: num("tenants", 1_000, 30),
  users: num("users", 50_000, 300),
  memberships: num("memberships", 250_000, 1_500),
  posts: num("posts", 1_000_000, 5_000),
  events: num("events", 100_000, 1_000),
};
const reps = num("reps", 5, 2);

async function main(): Promise<void> {
  const started = Date.now();
  if (!existsSync(BASELINE_SQL)) {
    // Every comparison needs the original design's SQL, kept beside the repository (../shared).
    const why = `the original design's SQL is not at ${BASELINE_SQL}`;
    if (smoke) {
      console.log(`bench smoke skipped: ${why}`);
      return;
    }
    throw new Error(why);
  }
  const external = process.env.DATABASE_URL;
  const server = external
    ? undefined
    : await startLocalPostgres({
        dataDir: path.join(LOCAL_DIR, "bench-pg"),
        // Outside the ephemeral port range, as the dev server's (db/local/config.ts).
        port: Number(process.env.BENCH_PG_PORT ?? 15442),
        persistent: true,
      });
  const adminUrl = external ?? server?.url ?? "";
  const version = new pg.Client({ connectionString: adminUrl });
  await version.connect();
  const postgres =
    ((await version.query<{ v: string }>("SELECT version() AS v")).rows[0]?.v ?? "").split(" on ")[0] ?? "";
  await version.end();
  const results: BenchResult[] = [];
  try {
    const ds = await prepareDatasets(adminUrl, sizes);
    if (run("feed")) results.push(await feedBench(ds, { samples: smoke ? 3 : 15, reps }));
    if (run("view")) results.push(await viewBench(ds, { reps: smoke ? 2 : 3, originalReps: smoke ? 2 : 1 }));
    if (run("writes"))
      results.push(
        await writesBench(ds, {
          pairRounds: smoke ? 4 : 40,
          rounds: smoke ? 4 : 12,
          perRound: smoke ? 100 : 1_000,
          originalSeconds: smoke ? 2 : 120,
        }),
      );
    if (run("ids"))
      results.push(
        await idsBench(ds, {
          rows: num("notifications", 2_000_000, 20_000),
          rounds: smoke ? 5 : 400,
        }),
      );
    if (run("tenant") || run("consumer")) {
      const platform = await startPlatform(ds.ours);
      try {
        if (run("tenant")) {
          results.push(
            await tenantBench(platform, {
              requests: smoke ? 100 : 300,
              concurrency: 16,
              rounds: smoke ? 2 : 60,
              floodRequests: smoke ? 500 : 10_000,
              slug: "bench-1",
              directRounds: smoke ? 1 : 5,
              directSeconds: smoke ? 1 : 3,
            }),
          );
        }
        if (run("consumer"))
          results.push(await consumerBench(platform, ds, { batches: smoke ? 3 : 30, reps }));
      } finally {
        await platform.close();
      }
    }
  } finally {
    await server?.stop();
  }

  const date = new Date().toISOString().slice(0, 10);
  // A smoke run's report is only proof the harness works: it goes to one git-ignored folder,
  // where the next smoke run of the same day replaces it, not to a new temp folder each
  // `npm test` (they piled up).
  const dir = smoke ? path.join(LOCAL_DIR, "bench-smoke") : path.join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  // A run of some benchmarks never overwrites the report of a full run.
  const stem = chosen.length > 0 ? `${date}-${chosen.join("-")}` : date;
  const chart = `${stem}.svg`;
  const env = { date, node: process.version, postgres, sizes, smoke, seconds: (Date.now() - started) / 1000 };
  writeFileSync(path.join(dir, chart), svgChart(results));
  writeFileSync(path.join(dir, `${stem}.md`), markdown(env, results, chart));
  for (const r of results) {
    console.log(`\n${r.title}`);
    for (const row of r.rows)
      console.log(
        `  ${row.label.padEnd(52)} ${row.ratio.toFixed(2).padStart(9)}x  (${row.ours.toFixed(2)} vs ${row.baseline.toFixed(2)} ${row.unit})`,
      );
    for (const t of r.targets)
      console.log(`  target ${t.met ? "met    " : "NOT MET"} ${t.text} [${t.note ?? ""}]`);
  }
  console.log(`\nreport: ${path.join(dir, `${stem}.md`)}`);

  if (smoke) {
    // The smoke run checks the harness, not the speed: every benchmark ran and gave numbers.
    const missing = NAMES.filter((n) => run(n) && !results.some((r) => r.name === n && r.rows.length > 0));
    const broken = results.flatMap((r) =>
      r.rows
        .filter((row) => !(row.ours >= 0) || !(row.baseline >= 0))
        .map((row) => `${r.name}: ${row.label}`),
    );
    if (missing.length > 0 || broken.length > 0) {
      console.error(
        `smoke failed: missing ${missing.join(", ") || "none"}; without numbers ${broken.join(", ") || "none"}`,
      );
      process.exit(1);
    }
    console.log(`bench smoke: ${results.length} passed, 0 failed`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
