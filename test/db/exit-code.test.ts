import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../db/local/config";

/** A Node process that loads the local Postgres module (as the test runner's global setup does). */
function exitStatus(code: number | undefined): number | null {
  const script = `import "./db/local/postgres.ts";${code === undefined ? "" : ` process.exitCode = ${code};`}`;
  return spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    stdio: "ignore",
  }).status;
}

describe("local Postgres module", () => {
  it("keeps the exit code a process sets (a failed test run must not exit 0), and 0 when none is set", () => {
    expect(exitStatus(3)).toBe(3);
    expect(exitStatus(undefined)).toBe(0);
  });
});
