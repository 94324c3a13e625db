import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { SignJWT } from "jose";
import { ROOT } from "../db/local/config";

// What the dev scripts (dev, token, dev-smoke) share: .dev.vars and the demo users' tokens.

/** A value of the root .dev.vars, which `npm run dev` writes; undefined when it is not there. */
export function devVar(name: string): string | undefined {
  const file = path.join(ROOT, ".dev.vars");
  if (!existsSync(file)) return undefined;
  const value = new RegExp(`^${name}=(.*)$`, "m").exec(readFileSync(file, "utf8"))?.[1]?.trim();
  return value || undefined;
}

/** An HS256 JWT for a demo user, as Supabase issues them, signed with the dev secret. */
export function signDemoToken(
  user: { id: string; email: string },
  secret: string,
  expiresIn = "1h",
): Promise<string> {
  return new SignJWT({ email: user.email, role: "authenticated" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(user.id)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}
