import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { say } from "../lib/progress";
import { fmt, percentile } from "../lib/stats";
import type { BenchResult, Row, Target } from "../lib/types";
import { DIRECT, type Platform } from "../lib/workers";

interface Burst {
  seconds: number;
  latencies: number[];
}

/** `total` requests, `concurrency` in flight: how long they took, and each one's latency in ms. */
async function burst(send: () => Promise<Response>, total: number, concurrency: number): Promise<Burst> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const t = performance.now();
        const res = await send();
        const body = await res.text();
        if (res.status !== 200) throw new Error(`unexpected ${res.status}: ${body.slice(0, 300)}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies };
}

const WORKERS = ["bare", "logged", "contract", "l1", "kv", "db"] as const;
type Worker = (typeof WORKERS)[number];

const execFileAsync = promisify(execFile);

/** Whether wrk (Debian's package) is installed: it answers --version with exit code 1. */
async function hasWrk(): Promise<boolean> {
  return execFileAsync("wrk", ["--version"]).then(
    () => true,
    (e: NodeJS.ErrnoException) => e.code !== "ENOENT",
  );
}

/**
 * wrk's requests per second against a worker's own socket. Awaited, never run synchronously:
 * this process must keep reading workerd's log pipe meanwhile, or the pipe fills and every
 * worker that logs stalls.
 */
async function wrk(url: URL, headers: Record<string, string>, seconds: number): Promise<number> {
  const args = ["-t1", "-c16", `-d${seconds}s`];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  const { stdout } = await execFileAsync("wrk", [...args, new URL("/v1/context", url).href]);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1];
  if (/Non-2xx/.test(stdout) || rps === undefined) throw new Error(`wrk: ${stdout}`);
  return Number(rps);
}

/**
 * The same rows with neither Node nor Miniflare's entry worker in the request's path: wrk on
 * each worker's own socket, so workerd alone sets the pace. Context for the L1 ratio, not the
 * target's measure: what a console.log a request costs when the harness no longer dilutes it.
 */
async function directRows(
  platform: Platform,
  headers: Record<string, string>,
  rounds: number,
  seconds: number,
): Promise<{ rows: Row[]; note: string }> {
  if (!(await hasWrk())) {
    return {
      rows: [],
      note: "rows on the workers' own sockets skipped: wrk is not installed (apt-get install wrk)",
    };
  }
  const urls = new Map(await Promise.all(DIRECT.map(async (w) => [w, await platform.directUrl(w)] as const)));
  const rps = new Map<string, number[]>(DIRECT.map((w) => [w, []]));
  for (let r = 0; r < rounds; r++) {
    say(`tenant: workers' own sockets, round ${r + 1} of ${rounds}`);
    for (const w of r % 2 === 0 ? DIRECT : [...DIRECT].reverse()) {
      const url = urls.get(w);
      if (url) rps.get(w)?.push(await wrk(url, headers, seconds));
    }
  }
  // Every run lasts as long, so the mean rate is all requests over all time.
  const mean = (w: string) => {
    const all = rps.get(w) ?? [];
    return all.reduce((a, b) => a + b, 0) / all.length;
  };
  const bare = mean("bare");
  // Microseconds a request at saturation: with workerd the bottleneck, what each part costs it.
  const us = (w: string) => 1e6 / mean(w);
  const rows = (
    [
      ["l1", "own socket: L1 hit"],
      ["contract", "own socket: bare route answering as ours must"],
      ["logged", "own socket: bare route with one JSON log line a request"],
    ] as const
  ).map(([w, label]) => ({
    label,
    ours: mean(w),
    baseline: bare,
    unit: "req/s",
    ratio: mean(w) / bare,
    detail: `wrk, 16 connections, ${rounds} runs of ${seconds} s a worker in alternating order; runs: ${(rps.get(w) ?? []).map((x) => fmt(x)).join(", ")} req/s (bare ${(rps.get("bare") ?? []).map((x) => fmt(x)).join(", ")})`,
  }));
  return {
    rows,
    note: `on the workers' own sockets (wrk, no Node or entry worker in the path, workerd alone sets the pace) the bare route takes ${fmt(us("bare"))} us a request; the JSON log line adds ${fmt(us("logged") - us("bare"))} us, the rest of the required answer (body, headers, request id) ${fmt(us("contract") - us("logged"))} us, and our middleware, tenant resolution and authentication ${fmt(us("l1") - us("contract"))} us. So one console.log a request alone keeps a bare route under 0.9 of itself inside workerd; through Miniflare's entry and Node's fetch above, the harness's own cost a request dilutes it`,
  };
}

export async function tenantBench(
  platform: Platform,
  opts: {
    requests: number;
    concurrency: number;
    rounds: number;
    floodRequests: number;
    slug: string;
    /** Runs of wrk per worker on its own socket, and each run's length in seconds. */
    directRounds: number;
    directSeconds: number;
  },
): Promise<BenchResult> {
  const headers = { "X-Tenant": opts.slug };
  // The batch worker's cron publishes the tenant directory, as it does every 5 minutes in production.
  const batch = await platform.mf.getWorker("batch");
  const published = await batch.scheduled({ cron: "*/5 * * * *" });
  if (published.outcome !== "ok") throw new Error(`the batch cron failed: ${published.outcome}`);
  const send = (worker: Worker) => () => platform.fetch(worker, "/v1/context", headers);
  for (const w of WORKERS) await burst(send(w), Math.min(500, opts.requests), opts.concurrency); // warm
  // This machine's speed drifts by a quarter over minutes and stalls requests for tens of ms
  // now and then, so every worker runs many short bursts, back to back with the others and in
  // alternating order, and a worker's throughput is all its requests over all its time: drift
  // and stalls land on every worker alike.
  const seconds = new Map<Worker, number>(WORKERS.map((w) => [w, 0]));
  const latencies = new Map<Worker, number[]>(WORKERS.map((w) => [w, []]));
  const perRound = new Map<Worker, number[]>(WORKERS.map((w) => [w, []]));
  for (let r = 0; r < opts.rounds; r++) {
    if (r % 20 === 0) say(`tenant: rounds ${r + 1}-${Math.min(r + 20, opts.rounds)} of ${opts.rounds}`);
    const order = r % 2 === 0 ? WORKERS : [...WORKERS].reverse();
    const round = new Map<Worker, Burst>();
    for (const w of order) round.set(w, await burst(send(w), opts.requests, opts.concurrency));
    const bareSeconds = round.get("bare")?.seconds ?? Number.NaN;
    for (const [w, b] of round) {
      seconds.set(w, (seconds.get(w) ?? 0) + b.seconds);
      latencies.get(w)?.push(...b.latencies);
      perRound.get(w)?.push(bareSeconds / b.seconds);
    }
  }
  const summary = (w: Worker) => {
    const all = latencies.get(w) ?? [];
    const rs = perRound.get(w) ?? [];
    return {
      rps: all.length / (seconds.get(w) ?? Number.NaN),
      p50: percentile(all, 50),
      p99: percentile(all, 99),
      q1: percentile(rs, 25),
      q3: percentile(rs, 75),
    };
  };
  const bare = summary("bare");
  const rows: Row[] = [];
  for (const [worker, label] of [
    ["l1", "L1 hit"],
    ["kv", "KV hit (L1 off)"],
    ["db", "database (caches off)"],
    ["contract", "bare route answering as ours must (no lookup)"],
    ["logged", "bare route with one JSON log line a request (nothing else)"],
  ] as const) {
    const t = summary(worker);
    rows.push({
      label,
      ours: t.rps,
      baseline: bare.rps,
      unit: "req/s",
      ratio: t.rps / bare.rps,
      detail: `p50 ${fmt(t.p50)} ms, p99 ${fmt(t.p99)} ms (bare ${fmt(bare.p50)} / ${fmt(bare.p99)} ms); single rounds' ratios, middle half: ${fmt(t.q1)}-${fmt(t.q3)}`,
    });
  }

  const direct = await directRows(platform, headers, opts.directRounds, opts.directSeconds);
  rows.push(...direct.rows);

  say(`tenant: flood of ${opts.floodRequests.toLocaleString()} distinct unknown subdomains`);
  let queries = 0;
  let i = 0;
  const floodStarted = performance.now();
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (i < opts.floodRequests) {
        const n = i++;
        const res = await platform.fetch("l1", "/v1/context", {
          "X-Tenant": `nobody-${n}-${(n * 2654435761) % 1_000_003}`,
        });
        await res.arrayBuffer();
        if (/(^|, )db;dur=/.test(res.headers.get("server-timing") ?? "")) queries++;
      }
    }),
  );
  const floodSeconds = (performance.now() - floodStarted) / 1000;
  const per100 = (queries / opts.floodRequests) * 100;
  rows.push({
    label: "flood: database queries per 100 unknown subdomains",
    ours: per100,
    baseline: 100,
    unit: "queries/100 req",
    ratio: per100 === 0 ? Number.POSITIVE_INFINITY : 100 / per100,
    detail: `${queries} queries for ${opts.floodRequests} requests in ${fmt(floodSeconds)} s; the original queries on every cache miss`,
  });
  const l1 = rows[0];
  const contract = summary("contract").rps / bare.rps;
  const logged = summary("logged").rps / bare.rps;
  const targets: Target[] = [
    {
      text: "L1-resolved /v1/context at least 0.9 of a bare route's throughput",
      met: (l1?.ratio ?? 0) >= 0.9,
      note: `${fmt(l1?.ratio ?? 0)}`,
    },
    {
      text: "flood of distinct unknown subdomains: at most 1 database query per 100 requests",
      met: per100 <= 1,
      note: `${fmt(per100)} per 100`,
    },
  ];
  return {
    name: "tenant",
    title: "Tenant resolution: /v1/context from L1, KV and Postgres against a bare Hono route (same workerd)",
    baselineName: "bare Hono route",
    rows,
    targets,
    notes: [
      `reading the L1 ratio: the bare route answering with the same body, headers and one JSON log line, and doing nothing else, reaches ${fmt(contract)} of the bare route; the bare route adding only the log line, ${fmt(logged)}. Through Miniflare each console.log is also a write to a pipe that the Node process driving the load reads and parses, and each header crosses Miniflare's entry worker and Node's HTTP parser. Single rounds vary widely on this machine (requests stall for tens of ms now and then, the bare route's too; each row gives the middle half of its rounds' ratios), so differences under ~5% do not resolve`,
      direct.note,
      `${opts.rounds} rounds of ${opts.requests} requests per worker, ${opts.concurrency} in flight, every worker once a round in alternating order; a worker's requests per second are all its requests over all its time, latencies are over all its requests; the client is Node's fetch through Miniflare's entry worker, the same for every row`,
    ],
  };
}
