import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { closedAncestor, startLocalPostgres } from "../../db/local/postgres";

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A folder of the given mode with a data directory to be two levels below it. */
function closedFolder(mode: number): { folder: string; dataDir: string } {
  const folder = mkdtempSync(path.join(tmpdir(), "communities-closed-"));
  made.push(folder);
  chmodSync(folder, mode);
  return { folder, dataDir: path.join(folder, "checkout", ".local", "pg") };
}

/** As root, the embedded Postgres runs as the `postgres` user, which must reach its folders. */
describe("the embedded Postgres, started as root", () => {
  const me = { uid: userInfo().uid, gids: [userInfo().gid] };
  const someoneElse = { uid: 54_321, gids: [54_321] };

  it("names the first folder above it that a user may not pass through", () => {
    const { folder, dataDir } = closedFolder(0o700);
    expect(closedAncestor(dataDir, someoneElse)).toBe(folder);
    expect(closedAncestor(dataDir, me)).toBeUndefined(); // the owner may
    chmodSync(folder, 0o711);
    expect(closedAncestor(dataDir, someoneElse)).toBeUndefined();
  });

  it("counts a folder's group bits for a member of its group, and only the others' bits for a user not created yet", () => {
    const { folder, dataDir } = closedFolder(0o710);
    const group = statSync(folder).gid;
    expect(closedAncestor(dataDir, { uid: 54_321, gids: [group] })).toBeUndefined();
    expect(closedAncestor(dataDir, someoneElse)).toBe(folder);
    expect(closedAncestor(dataDir, undefined)).toBe(folder);
  });

  // As root, Postgres runs as the `postgres` user: a checkout under /root (0700) is closed to it.
  it.runIf(userInfo().uid === 0)(
    "refuses to start as root in a folder closed to the postgres user, saying which and what to do",
    async () => {
      const { folder, dataDir } = closedFolder(0o700);
      const started = startLocalPostgres({ dataDir, persistent: false, fast: true });
      await expect(started).rejects.toThrow(`may not enter ${folder}`);
      await expect(started).rejects.toThrow("DATABASE_URL");
    },
  );
});
