import { execFileSync } from "node:child_process";
import path from "node:path";
import { ROOT } from "../db/local/config";

/**
 * Bundles one Worker as `wrangler deploy` would, offline (`--dry-run`), into `outdir`, and
 * returns the entry module's path. Tests and benchmarks run exactly what would be deployed.
 * Runs wrangler on the Node running this, so a failure names the version it ran on.
 */
export function bundleWorker(config: string, outdir: string): string {
  try {
    execFileSync(
      process.execPath,
      [
        path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
        "deploy",
        "--dry-run",
        "-c",
        config,
        "--outdir",
        outdir,
      ],
      {
        cwd: ROOT,
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
      },
    );
  } catch (e) {
    // Wrangler's own words (e.g. that it needs Node 22 or later) beat "Command failed".
    const said = String((e as { stderr?: unknown }).stderr ?? "").trim();
    throw new Error(`bundling ${config} failed on Node ${process.version}: ${said || String(e)}`);
  }
  return path.join(outdir, "index.js");
}
