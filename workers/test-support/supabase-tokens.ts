import { SignJWT } from "jose";
import { TEST_JWT_SECRET } from "./constants";

// Tokens as a Supabase project issues them, HS256 with its secret. Plain jose, no Workers or
// vitest imports: the dev scripts (scripts/dev-shared.ts) sign the demo users' tokens with these too.

/** An HS256 token as Supabase issues them, signed with the test secret unless told otherwise. */
export function signToken(
  claims: { sub: string; email?: string },
  options: { secret?: string; expiresIn?: string | number | null; notBefore?: number } = {},
): Promise<string> {
  const jwt = new SignJWT({ email: claims.email, role: "authenticated" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuedAt();
  if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
  // null: no exp at all (a token that would never expire).
  if (options.expiresIn !== null) jwt.setExpirationTime(options.expiresIn ?? "1h");
  return jwt.sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}

/**
 * A Supabase project API key: signed with the project secret, with a role and no user (no `sub`).
 * Clients send the anon key when nobody is signed in; servers hold the service-role key.
 */
export function signProjectKey(
  role: "anon" | "service_role" = "anon",
  options: { secret?: string } = {},
): Promise<string> {
  return new SignJWT({ role, iss: "supabase" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}
