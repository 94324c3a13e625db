import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ROOT } from "../../db/local/config";
import { alive, childrenNamed, gone, procStat, signal } from "../../db/local/processes";

interface Started {
  parent: ChildProcess;
  /** A worker in a process group of its own, as `npm run dev` starts each wrangler. */
  worker: number;
  /** Stands in for the embedded Postgres: the pid its data directory's postmaster.pid names. */
  server: number;
  /** A child in the parent's own group, handed over by pid and command (Miniflare's workerd). */
  single: number;
  dataDir: string;
  /** What the parent and its reaper wrote to stderr, once both have closed it. */
  stderr: Promise<string>;
}

const leftovers: number[] = [];

afterEach(() => {
  for (const pid of leftovers.splice(0)) signal(pid, "SIGKILL");
});

/**
 * A Node process that starts what `npm run dev` starts (a process group, a server with a data
 * directory), hands both to its reaper, and then waits. `postmasterPid` says what the data
 * directory's postmaster.pid names: the server, or (a pid the kernel reused) another process.
 */
async function startParent(opts: {
  postmasterPid: "server" | "other";
  cleanExit?: boolean;
}): Promise<Started> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "communities-reaper-"));
  const script = `
    import { spawn } from "node:child_process";
    import { writeFileSync } from "node:fs";
    import { reapOnExit } from "./db/local/reaper.ts";
    const sleeper = () => spawn("sleep", ["600"], { detached: true, stdio: "ignore" });
    const worker = sleeper();
    const server = sleeper();
    // A single process (as Miniflare's workerd): in this parent's group, so given by pid and command.
    const single = spawn("sleep", ["600"], { stdio: "ignore" });
    const named = ${opts.postmasterPid === "server" ? "server.pid" : "process.ppid"};
    writeFileSync(${JSON.stringify(path.join(dataDir, "postmaster.pid"))}, named + "\\n");
    reapOnExit({ group: worker.pid });
    reapOnExit({ process: { pid: single.pid, comm: ${JSON.stringify(opts.postmasterPid === "server" ? "sleep" : "not-sleep")} } });
    reapOnExit({ postgres: { pid: server.pid, dataDir: ${JSON.stringify(dataDir)}, remove: true } });
    console.log(JSON.stringify({ worker: worker.pid, server: server.pid, single: single.pid }));
    ${
      opts.cleanExit
        ? `process.kill(-worker.pid, "SIGKILL"); server.kill("SIGKILL"); single.kill("SIGKILL");
           const { rmSync } = await import("node:fs");
           rmSync(${JSON.stringify(path.join(dataDir, "postmaster.pid"))});`
        : "setInterval(() => undefined, 1000);"
    }
  `;
  const parent = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  parent.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const stderr = new Promise<string>((resolve) => parent.stderr?.on("close", () => resolve(err)));
  const line = await new Promise<string>((resolve, reject) => {
    parent.stdout?.once("data", (d: Buffer) => resolve(d.toString()));
    parent.once("exit", () => reject(new Error(`parent exited early: ${err}`)));
  });
  const { worker, server, single } = JSON.parse(line) as { worker: number; server: number; single: number };
  leftovers.push(worker, server, single);
  return { parent, worker, server, single, dataDir, stderr };
}

describe("reaper", () => {
  it("stops the workers and the database of a parent killed with SIGKILL, and removes a throwaway data directory", async () => {
    const s = await startParent({ postmasterPid: "server" });
    expect(alive(s.worker) && alive(s.server) && alive(s.single)).toBe(true);
    s.parent.kill("SIGKILL");
    expect(await gone([s.worker, s.server, s.single], 15_000)).toBe(true);
    expect(await s.stderr).toContain("stopping 2 worker(s) and 1 database server(s)");
    expect(existsSync(s.dataDir)).toBe(false);
  });

  it("never signals a pid that no longer holds the data directory or runs the command it was given, nor removes the directory", async () => {
    const s = await startParent({ postmasterPid: "other" });
    s.parent.kill("SIGKILL");
    expect(await gone([s.worker], 15_000)).toBe(true);
    expect(await s.stderr).toContain("stopping 1 worker(s) and 0 database server(s)");
    expect(alive(s.server) && alive(s.single)).toBe(true);
    expect(existsSync(s.dataDir)).toBe(true);
    rmSync(s.dataDir, { recursive: true, force: true });
  });

  it("says and does nothing after a parent that stopped what it started exits", async () => {
    const s = await startParent({ postmasterPid: "server", cleanExit: true });
    // stderr closes once the reaper, which shares it, has exited too.
    expect(await s.stderr).not.toContain("[reaper]");
    expect(alive(s.worker) || alive(s.server) || alive(s.single)).toBe(false);
    // The data directory is the parent's to remove after a clean stop: left as it was.
    expect(existsSync(s.dataDir)).toBe(true);
    rmSync(s.dataDir, { recursive: true, force: true });
  });
});

describe("process lookup", () => {
  it.runIf(existsSync("/proc"))(
    "finds a process's children by command, and reads a command and parent",
    async () => {
      const child = spawn("sleep", ["600"], { stdio: "ignore" });
      leftovers.push(child.pid ?? 0);
      await new Promise((r) => child.once("spawn", r));
      expect(childrenNamed(process.pid, "sleep")).toContain(child.pid);
      expect(childrenNamed(process.pid, "not-sleep")).toEqual([]);
      expect(procStat(child.pid ?? 0)).toEqual({ comm: "sleep", ppid: process.pid });
    },
  );
});
