import { env } from "cloudflare:test";
import { importJWK, type JWK, SignJWT } from "jose";
import { TEST_JWT_SECRET } from "./constants";

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

/** An unsigned token (`alg: none`), which must always be refused. */
export function unsignedToken(sub: string): string {
  const b64 = (o: object) =>
    btoa(JSON.stringify(o)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  return `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
}

/** A token signed by the test identity provider's RS256 or ES256 key (served as a JWKS). */
export async function signWithJwks(
  alg: "RS256" | "ES256",
  claims: { sub: string; iss?: string; aud?: string },
): Promise<string> {
  const jwk = (JSON.parse(env.TEST_JWKS_PRIVATE_KEYS) as Record<string, JWK>)[alg];
  if (!jwk) throw new Error(`no test key for ${alg}`);
  const jwt = new SignJWT({ role: "authenticated" })
    .setProtectedHeader({ alg, kid: jwk.kid, typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime("1h");
  if (claims.iss) jwt.setIssuer(claims.iss);
  if (claims.aud) jwt.setAudience(claims.aud);
  return jwt.sign(await importJWK(jwk, alg));
}
