import { DEMO_USERS } from "../db/local/seed-data";
import { signToken } from "../workers/test-support/supabase-tokens";
import { devVar } from "./dev-shared";

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
const secret = devVar("AUTH_JWT_SECRET");
if (!secret) {
  console.error("no AUTH_JWT_SECRET in .dev.vars: run `npm run dev` once to create it");
  process.exit(2);
}
console.log(await signToken({ sub: user.id, email: user.email }, { secret }));
