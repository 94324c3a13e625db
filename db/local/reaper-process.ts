import { rmSync } from "node:fs";
import { alive, gone, postmasterPid, procStat, signal } from "./processes";
import type { Watched } from "./reaper";

/**
 * The reaper (db/local/reaper.ts starts it; nothing imports this file). It reads what its
 * parent started from stdin, one JSON line each, and waits. Its stdin is a pipe only the parent
 * holds, so end of input means the parent is gone, however it went: after a clean stop there is
 * nothing left to do; after a SIGKILL, a crash or the OOM killer, it stops what the parent left
 * running (workers first, the database last, as `npm run dev` stops them itself).
 */
const groups = new Set<number>();
const servers = new Map<number, { dataDir: string; remove: boolean }>();
/** Single processes, each with its command: a pid the kernel gave to another is left alone. */
const processes = new Map<number, string>();

const GRACE_MS = 10_000;

// The terminal it writes to may be gone with its parent: a failed write must not end it.
process.stderr.on("error", () => undefined);
const say = (line: string) => process.stderr.write(`[reaper] ${line}\n`);

/**
 * Whether `pid` is still the server started in `dataDir`: its postmaster.pid still names it, so a
 * pid the kernel has since given to another process is never signalled.
 */
const stillServes = (pid: number, dataDir: string) => postmasterPid(dataDir) === pid && alive(pid);

async function reap(): Promise<void> {
  // A process group is signalled as -pgid: the worker and every process it started.
  const left = [
    ...[...groups].map((g) => -g).filter(alive),
    ...[...processes].filter(([pid, comm]) => procStat(pid)?.comm === comm).map(([pid]) => pid),
  ];
  const running = [...servers].filter(([pid, s]) => stillServes(pid, s.dataDir));
  if (left.length > 0 || running.length > 0) {
    say(
      `the process that started them ended without stopping them; stopping ${left.length} worker(s) and ${running.length} database server(s)`,
    );
  }
  for (const g of left) signal(g, "SIGINT");
  if (!(await gone(left, GRACE_MS))) for (const g of left) signal(g, "SIGKILL");
  for (const [pid] of running) signal(pid, "SIGINT"); // Postgres's fast shutdown
  const pids = running.map(([pid]) => pid);
  if (!(await gone(pids, GRACE_MS))) for (const pid of pids) signal(pid, "SIGQUIT"); // immediate
  await gone(pids, GRACE_MS);
  // Only the throwaway directories of servers it stopped: after a clean stop, its parent's own.
  for (const [pid, s] of running) {
    if (s.remove && !alive(pid)) rmSync(s.dataDir, { recursive: true, force: true });
  }
  process.exit(0);
}

let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  pending += chunk;
  const lines = pending.split("\n");
  pending = lines.pop() ?? "";
  for (const line of lines) {
    const watched = JSON.parse(line) as Watched;
    if ("group" in watched) groups.add(watched.group);
    else if ("process" in watched) processes.set(watched.process.pid, watched.process.comm);
    else servers.set(watched.postgres.pid, watched.postgres);
  }
});
process.stdin.on("end", () => void reap());
process.stdin.on("error", () => void reap());
