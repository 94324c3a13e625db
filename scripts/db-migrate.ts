import { spawnSync } from "node:child_process";
import { ROOT, resolveDatabase } from "../db/local/config";

// drizzle-kit applies the migrations; PGOPTIONS lifts the app's 30 s statement limit for it.
const target = await resolveDatabase();
const result = spawnSync("npx", ["drizzle-kit", "migrate"], {
  cwd: ROOT,
  stdio: "inherit",
  env: { ...process.env, DATABASE_URL: target.url, PGOPTIONS: "-c statement_timeout=0" },
});
await target.stop();
process.exit(result.status ?? 1);
