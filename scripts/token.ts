import { readFileSync } from "node:fs";
import path from "node:path";
import { SignJWT } from "jose";
import { ROOT } from "../db/local/config";
import { DEMO_USERS } from "../db/local/seed-data";

/** `npm run token -- alice@example.com`: a 1-hour HS256 JWT for a demo user, signed with the dev secret. */
const who = process.argv[2] ?? "alice@example.com";
const user = Object.values(DEMO_USERS).find((u) => u.email === who || u.email.startsWith(`${who}@`));
if (!user) {
  console.error(
    `unknown demo user ${who}; one of: ${Object.values(DEMO_USERS)
      .map((u) => u.email)
      .join(", ")}`,
  );
  process.exit(2);
}
const vars = readFileSync(path.join(ROOT, ".dev.vars"), "utf8");
const secret = /^AUTH_JWT_SECRET=(.*)$/m.exec(vars)?.[1]?.trim();
if (!secret) {
  console.error("no AUTH_JWT_SECRET in .dev.vars: run `npm run dev` once to create it");
  process.exit(2);
}
const token = await new SignJWT({ email: user.email, role: "authenticated" })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject(user.id)
  .setIssuedAt()
  .setExpirationTime("1h")
  .sign(new TextEncoder().encode(secret));
console.log(token);
