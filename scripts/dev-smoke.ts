import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import pg from "pg";
import { ROOT } from "../db/local/config";
import { DEMO_TENANTS, DEMO_USERS } from "../db/local/seed-data";
import { signToken } from "../workers/test-support/supabase-tokens";
import { devVar } from "./dev-shared";

/**
 * `npm run dev:smoke`: runs `npm run dev` as a user would and checks the platform it starts
 * end to end: both workers answer, a tenant resolves, a user's token is verified, a job enqueued
 * at the tenant worker is written by the batch worker through wrangler's local queues; killed
 * with SIGKILL, what it started is stopped for it (db/local/reaper.ts), so a second one starts
 * (with a debugger holding port 9229, as an editor's often does); and Ctrl-C stops everything.
 * The tests run the workers under the vitest pool, never under `wrangler dev`, whose
 * multi-config queue wiring and .dev.vars only this exercises. CI runs it after the tests.
 */
const TENANT = "http://127.0.0.1:8787";
const BATCH = "http://127.0.0.1:8788";
const START_TIMEOUT_MS = 180_000;

interface Dev {
  process: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

function startDev(): Dev {
  const output: string[] = [];
  // tsx as a loader, not its CLI: the CLI answers a SIGINT with 130 whatever the script exits
  // with, and a SIGKILL must reach the dev process itself, not a wrapper around it.
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/dev.ts"], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [child.stdout, child.stderr])
    stream.on("data", (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { process: child, output, exited };
}

let dev = startDev();

/** Thrown by the checks; the catch at the end prints what `npm run dev` said and stops it. */
function fail(why: string): never {
  throw new Error(why);
}

/** Polls `probe` until it gives a value; while `dev` is meant to run, its exit is a failure. */
async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  devRuns = true,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (devRuns && dev.process.exitCode !== null)
      fail(`npm run dev exited (${dev.process.exitCode}) while waiting for ${what}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch {
      // not there yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return fail(`no ${what} within ${timeoutMs / 1000} s`);
}

const ok = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, init);
  return res.ok ? ((await res.json()) as Record<string, unknown>) : undefined;
};

async function up(): Promise<void> {
  const started = Date.now();
  await until("tenant worker health", START_TIMEOUT_MS, () => ok(`${TENANT}/health`));
  await until("batch worker health", 60_000, () => ok(`${BATCH}/health`));
  console.log(`dev smoke: both workers up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Listens on `port` as another program would; undefined when one already does. */
async function holdPort(port: number): Promise<{ close(): Promise<void> } | undefined> {
  const server = createServer();
  const held = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });
  return held ? { close: () => new Promise((r) => server.close(() => r())) } : undefined;
}

/** Neither worker answers and, unless DATABASE_URL names another, the embedded Postgres is down. */
async function everythingStopped(): Promise<string | undefined> {
  const answering = await Promise.all(
    [TENANT, BATCH].map((base) =>
      fetch(`${base}/health`).then(
        () => true,
        () => false,
      ),
    ),
  );
  if (answering.includes(true)) return "a worker still answers";
  if (process.env.DATABASE_URL) return undefined;
  const after = new pg.Client({ connectionString: devVar("DATABASE_URL"), connectionTimeoutMillis: 2_000 });
  const dbUp = await after.connect().then(
    () => after.end().then(() => true),
    () => false,
  );
  return dbUp ? "the embedded Postgres still runs" : undefined;
}

try {
  await up();

  const read = (name: string) => devVar(name) ?? fail(`no ${name} in .dev.vars`);
  const { acme } = DEMO_TENANTS;
  const { alice } = DEMO_USERS;
  const token = await signToken(
    { sub: alice.id, email: alice.email },
    { secret: read("AUTH_JWT_SECRET"), expiresIn: "10m" },
  );

  const context = await ok(`${TENANT}/v1/context`, {
    headers: { "x-tenant": acme.slug, authorization: `Bearer ${token}` },
  });
  const user = (context?.user ?? null) as { id?: string; role?: string } | null;
  if (user?.id !== alice.id || user.role !== "admin") {
    fail(`/v1/context for alice in acme answered ${JSON.stringify(context)}`);
  }

  const enqueued = await fetch(`${TENANT}/v1/jobs`, {
    method: "POST",
    headers: { "x-tenant": acme.slug, authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      queue: "analytics",
      operation: "record_analytics",
      payload: { event_type: "dev.smoke", properties: { at: new Date().toISOString() } },
    }),
  });
  const { job_id: jobId } = (await enqueued.json()) as { job_id?: string };
  if (enqueued.status !== 202 || !jobId) fail(`POST /v1/jobs answered ${enqueued.status}`);

  const db = new pg.Client({ connectionString: read("DATABASE_URL") });
  await db.connect();
  try {
    await until("the job's row, written by the batch worker", 60_000, async () => {
      const { rows } = await db.query("SELECT 1 FROM analytics_events WHERE job_id = $1", [jobId]);
      return rows.length > 0 ? true : undefined;
    });
  } finally {
    await db.end();
  }
  console.log("dev smoke: context, token and a job through the local queue to Postgres: ok");

  const counts = await ok(`${BATCH}/admin/dead-jobs/counts`, {
    headers: { authorization: `Bearer ${read("ADMIN_TOKEN")}` },
  });
  if (!counts) fail("the batch worker's admin API refused the admin token in .dev.vars");

  // A dev process killed outright (SIGKILL, a crash, the OOM killer) runs no handler of its
  // own: its reaper (db/local/reaper.ts) must stop the workers and the database it leaves.
  dev.process.kill("SIGKILL");
  await dev.exited;
  await until(
    "stop of the killed npm run dev's workers and database",
    30_000,
    async () => ((await everythingStopped()) === undefined ? true : undefined),
    false,
  );
  console.log("dev smoke: killed with SIGKILL, its workers and database were stopped for it");

  // So a second npm run dev starts, even with a debugger (an editor's auto-attach) on 9229;
  // Ctrl-C then stops it and all it started.
  const debuggerPort = await holdPort(9229);
  try {
    dev = startDev();
    await up();
  } finally {
    await debuggerPort?.close();
  }
  dev.process.kill("SIGINT");
  const stop = await Promise.race([dev.exited, new Promise((r) => setTimeout(() => r("timeout"), 30_000))]);
  if (stop !== 0) fail(`Ctrl-C did not stop npm run dev cleanly (${String(stop)})`);
  const left = await everythingStopped();
  if (left) fail(`${left} after npm run dev stopped`);
  console.log("dev smoke: stopped cleanly; passed");
} catch (e) {
  if (dev.process.exitCode === null) dev.process.kill("SIGINT");
  const why = e instanceof Error ? e.message : String(e);
  console.error(`dev smoke: FAILED: ${why}\n--- npm run dev said ---\n${dev.output.join("").slice(-8_000)}`);
  await Promise.race([dev.exited, new Promise((r) => setTimeout(r, 15_000))]);
  process.exit(1);
}
