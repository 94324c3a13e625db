import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../db/local/ports";
import { type LocalPostgres, startLocalPostgres } from "../../db/local/postgres";
import { postmasterPid, signal } from "../../db/local/processes";

const dataDir = mkdtempSync(path.join(tmpdir(), "communities-restart-"));
let started: LocalPostgres | undefined;
afterAll(async () => {
  await started?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe.skipIf(process.env.DATABASE_URL)("the embedded Postgres, started again", () => {
  it("waits for a server of its data directory that is still shutting down, then starts", async () => {
    const port = await freePort();
    const first = await startLocalPostgres({ dataDir, port, persistent: true, fast: true });
    // A smart shutdown waits for its sessions: with one open, the server runs on and answers
    // no one, as one the reaper stops after a killed `npm run dev` does while it shuts down.
    const session = new pg.Client({ connectionString: first.url });
    await session.connect();
    const pid = postmasterPid(dataDir);
    if (pid === undefined) throw new Error("no postmaster.pid");
    signal(pid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    const again = startLocalPostgres({ dataDir, port, persistent: true, fast: true });
    await new Promise((r) => setTimeout(r, 1_000));
    await session.end();
    const second = await again;
    started = second;
    expect(postmasterPid(dataDir)).not.toBe(pid);
    const client = new pg.Client({ connectionString: second.url });
    await client.connect();
    expect((await client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    await client.end();
  });
});
