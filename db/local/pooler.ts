import { spawn } from "node:child_process";
import { accessSync, chownSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { freePort } from "./ports";
import { LOCAL_USER, postgresUser } from "./postgres";
import { alive, gone, signal } from "./processes";
import { reapOnExit } from "./reaper";

/**
 * A transaction-mode PgBouncer in front of a Postgres: what Neon's pooled (`-pooler`) connection
 * string puts between the workers and the database. Such a pooler refuses what a plain Postgres
 * takes (startup options, session state across transactions), so the tests run the workers
 * through one too. PgBouncer is a system package (`apt install pgbouncer`), not an npm one: where
 * it is missing, `startPooler` says why and the tests that need it are skipped.
 */
export interface Pooler {
  host: string;
  port: number;
  stop(): Promise<void>;
}

const SEARCH = ["/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"];

/** The pgbouncer binary: $PGBOUNCER, else on PATH or in the usual system folders. */
export function findPgbouncer(): string | undefined {
  const candidates = process.env.PGBOUNCER
    ? [process.env.PGBOUNCER]
    : [...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean), ...SEARCH].map((dir) =>
        path.join(dir, "pgbouncer"),
      );
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Starts PgBouncer in transaction mode for `target`, every database name passed through, the one
 * user of `target` let in with its password. Resolves to the pooler, or to why there is none.
 */
export async function startPooler(target: {
  host: string;
  port: number;
  user: string;
  password: string;
}): Promise<Pooler | { unavailable: string }> {
  const binary = findPgbouncer();
  if (!binary) return { unavailable: "pgbouncer is not installed (apt install pgbouncer)" };
  // PgBouncer refuses to run as root; as root it drops to the embedded Postgres's user.
  const asRoot = userInfo().uid === 0;
  const owner = asRoot ? postgresUser() : undefined;
  if (asRoot && !owner)
    return { unavailable: `running as root, and there is no ${LOCAL_USER} user to run it as` };
  const dir = mkdtempSync(path.join(tmpdir(), "communities-pooler-"));
  const port = await freePort();
  const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
  writeFileSync(path.join(dir, "userlist.txt"), `${quote(target.user)} ${quote(target.password)}\n`);
  writeFileSync(
    path.join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `* = host=${target.host} port=${target.port}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = md5",
      `auth_file = ${path.join(dir, "userlist.txt")}`,
      "pool_mode = transaction",
      "max_client_conn = 1000",
      "default_pool_size = 20",
      `logfile = ${path.join(dir, "pgbouncer.log")}`,
      "log_connections = 0",
      "log_disconnections = 0",
      "",
    ].join("\n"),
  );
  if (owner) {
    for (const entry of [dir, path.join(dir, "userlist.txt"), path.join(dir, "pgbouncer.ini")]) {
      chownSync(entry, owner.uid, owner.gid);
    }
  }
  // Quiet: it logs to its file only, which says why when it does not start.
  const args = ["-q", ...(owner ? ["-u", LOCAL_USER] : []), path.join(dir, "pgbouncer.ini")];
  const child = spawn(binary, args, { stdio: "ignore" });
  const lastLines = () => {
    try {
      return readFileSync(path.join(dir, "pgbouncer.log"), "utf8").trim().split("\n").slice(-3).join(" / ");
    } catch {
      return "no log";
    }
  };
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("error", () => undefined);
  const pid = child.pid;
  const cleanUp = () => rmSync(dir, { recursive: true, force: true });
  if (pid === undefined) {
    cleanUp();
    return { unavailable: `${binary} did not start` };
  }
  reapOnExit({ process: { pid, comm: "pgbouncer" } });
  const deadline = Date.now() + 5_000;
  while (!(await accepts(port))) {
    if (!alive(pid) || Date.now() > deadline) {
      signal(pid, "SIGKILL");
      const why = lastLines();
      cleanUp();
      return { unavailable: `pgbouncer did not start: ${why}` };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: "127.0.0.1",
    port,
    stop: async () => {
      // SIGINT would wait for clients to leave; the tests are done with it.
      signal(pid, "SIGTERM");
      if (!(await gone([pid], 5_000))) signal(pid, "SIGKILL");
      await exited;
      cleanUp();
    },
  };
}
