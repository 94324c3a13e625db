import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../db/local/config";

// What the dev scripts (dev, token, dev-smoke) share: .dev.vars. Demo users' tokens are signed
// as the tests sign theirs (workers/test-support/supabase-tokens.ts).

/** A value of the root .dev.vars, which `npm run dev` writes; undefined when it is not there. */
export function devVar(name: string): string | undefined {
  const file = path.join(ROOT, ".dev.vars");
  if (!existsSync(file)) return undefined;
  const value = new RegExp(`^${name}=(.*)$`, "m").exec(readFileSync(file, "utf8"))?.[1]?.trim();
  return value || undefined;
}
