import { type ChildProcess, spawn } from "node:child_process";
import type { Socket } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** What a process started and must not leave running should it end without stopping it. */
export type Watched =
  | { group: number }
  | { postgres: { pid: number; dataDir: string; remove: boolean } }
  | { process: { pid: number; comm: string } };

const HERE = path.dirname(fileURLToPath(import.meta.url));
let reaper: ChildProcess | undefined;

/**
 * Hands `watched` to this process's reaper (db/local/reaper-process.ts), started on first use.
 * Signal handlers stop what `npm run dev`, the tests and the benchmarks start, but a SIGKILL,
 * a crash or the OOM killer runs none of them: the workers then held their ports, so the next
 * `npm run dev` refused to start and told the user to press Ctrl-C in a terminal that no longer
 * ran anything, and the embedded Postgres ran on with nobody to stop it. The reaper outlives
 * this process (its own session, so no terminal signal reaches it either) and stops them then.
 */
export function reapOnExit(watched: Watched): void {
  reaper ??= startReaper();
  reaper.stdin?.write(`${JSON.stringify(watched)}\n`);
}

function startReaper(): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(HERE, "reaper-process.ts")], {
    cwd: path.resolve(HERE, "../.."),
    detached: true,
    stdio: ["pipe", "ignore", "inherit"],
  });
  // Neither the child nor the pipe may keep this process alive: its end closing is the signal.
  child.unref();
  (child.stdin as Socket | null)?.unref();
  // A reaper that could not start costs only what it was for; it never fails its parent.
  child.on("error", () => undefined);
  child.stdin?.on("error", () => undefined);
  return child;
}
