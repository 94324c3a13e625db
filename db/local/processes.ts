import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** Whether a process (or, given -pgid, any process of a group) still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Sends `sig` to a process (or, given -pgid, to its whole group) if it is still there. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/** Whether all of `pids` are gone within `ms`. */
export async function gone(pids: number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (pids.some(alive)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/**
 * The pids of `parent`'s children whose command is `name`, read from /proc (Linux); none where
 * there is no /proc. For children a library starts without saying which (Miniflare's workerd).
 */
export function childrenNamed(parent: number, name: string): number[] {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  return pids.map(Number).filter((pid) => {
    const stat = procStat(pid);
    return stat?.ppid === parent && stat.comm === name;
  });
}

/** A process's command (at most 15 characters, as the kernel keeps it) and parent, from /proc. */
export function procStat(pid: number): { comm: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split at the last ")".
    const close = stat.lastIndexOf(")");
    return {
      comm: stat.slice(stat.indexOf("(") + 1, close),
      ppid: Number(stat.slice(close + 2).split(" ")[1]),
    };
  } catch {
    return undefined;
  }
}

/**
 * The Postgres server running in `dataDir`, from the postmaster.pid it keeps there while it runs
 * (and removes when it stops): its pid, the file's first line, and its port, the fourth.
 * Undefined when there is none.
 */
export function postmaster(dataDir: string): { pid: number; port: number | undefined } | undefined {
  try {
    const lines = readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n");
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    return Number.isInteger(pid) && pid > 0
      ? { pid, port: Number.isInteger(port) && port > 0 ? port : undefined }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of the Postgres server running in `dataDir` (postmaster), or undefined. */
export function postmasterPid(dataDir: string): number | undefined {
  return postmaster(dataDir)?.pid;
}
